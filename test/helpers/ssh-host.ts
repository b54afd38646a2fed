import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';

/**
 * THE test harness for a machine reached over SSH (a flashing host, a node): a network namespace
 * joined to the root namespace by a veth pair, with Debian's real `/usr/sbin/sshd -D -e` listening
 * on a test port with its own host key. Key auth for root and for test users; a test user can have
 * a password and a sudoers line that requires it (`timestamp_timeout=0`: every sudo asks again).
 *
 * The namespace shares this machine's filesystem and users, so a loop device made here is the
 * "card" on that host, and test users are real /etc/passwd entries (removed by stop()).
 */

export interface SshHostUserSpec {
  /** Default: a random `${prefix}u…` name. */
  name?: string;
  /** Set as the account password (sudo asks for it). Default: random. */
  password?: string;
  /** 'password': `NAME ALL=(ALL:ALL) ALL`; 'nopasswd': NOPASSWD; 'none': no sudoers line. Default 'password'. */
  sudo?: 'password' | 'nopasswd' | 'none';
}

export interface SshHostUser {
  name: string;
  password: string;
  sudo: 'password' | 'nopasswd' | 'none';
  home: string;
  /** `name@alias` for the ssh config written by the harness. */
  target: string;
}

export interface SshHostOptions {
  /** Namespace/interface prefix of the caller (e.g. "mrm"). */
  prefix: string;
  /** Non-root login users. Default: one user with a password whose sudo requires it. */
  users?: SshHostUserSpec[];
  /** sshd port inside the namespace. Default: random 20000–29999. */
  port?: number;
  /**
   * Root's `~/.bashrc` for SSH logins (bound over it in sshd's own mount namespace, which `ip netns
   * exec` makes private; Debian's bash reads it for every SSH command). Default `debian`: Debian's
   * own root `.bashrc` (base-files), what a flashing host or node has. This machine's runs `pyenv
   * init`, whose rehash waits 60 s on a lock that a login killed mid-rehash (a test's timeout) leaves
   * behind: every later SSH command then takes a minute. `empty` for benchmarks, `machine` to keep
   * this machine's (BENCH_LOGIN=machine).
   */
  login?: 'debian' | 'empty' | 'machine';
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface SshHost {
  ns: string;
  /** The host's address (namespace end of the veth). */
  addr: string;
  /** The root namespace's end, as the host sees the workstation. */
  peerAddr: string;
  /** The veth end in the root namespace (`ip link set LINK down` drops the host off the network). */
  link: string;
  port: number;
  /** `Host` name in sshConfig (also matches `addr`). */
  alias: string;
  dir: string;
  /** ssh_config: User root, Port, IdentityFile, UserKnownHostsFile with the real host key, StrictHostKeyChecking yes, BatchMode yes. */
  sshConfig: string;
  identityFile: string;
  knownHosts: string;
  /** The host key line (`ssh-ed25519 AAAA…`). */
  hostKey: string;
  sshdPid: number;
  /** sshd's own log so far (`-e`: stderr, LogLevel INFO: one "Accepted publickey for" line per authentication). */
  log(): string;
  users: SshHostUser[];
  /** Env for code under test: METIS_SSH_CONFIG pointing at sshConfig. */
  env: NodeJS.ProcessEnv;
  /** Runs argv inside the namespace (as root, on the shared filesystem). */
  exec(argv: string[], opts?: { input?: string; reject?: boolean }): Promise<ExecResult>;
  /** PIDs of processes in the namespace other than sshd's listener. */
  pids(): Promise<number[]>;
  stop(): Promise<void>;
}

/** Debian's default `.bashrc` for root (package base-files). */
const DEBIAN_ROOT_BASHRC = '/usr/share/base-files/dot.bashrc';

const run = async (cmd: string, args: string[], input?: string) => {
  const r = await execa(cmd, args, { reject: false, input, stdin: input === undefined ? 'ignore' : 'pipe' });
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.exitCode}): ${String(r.stderr).trim()}`);
  return String(r.stdout);
};

/** A /30 in 10.0.0.0/8 not already routed here (other tests may hold some). */
async function freeSubnet(): Promise<[string, string]> {
  const routes = await run('ip', ['-4', 'route', 'show']);
  for (let i = 0; i < 50; i++) {
    const a = 100 + Math.floor(Math.random() * 150);
    const b = Math.floor(Math.random() * 256);
    const c = Math.floor(Math.random() * 64) * 4;
    const net = `10.${a}.${b}.`;
    if (!routes.includes(`${net}${c}/`)) return [`${net}${c + 1}`, `${net}${c + 2}`];
  }
  throw new Error('no free 10.x.y.z/30 found');
}

export async function startSshHost(opts: SshHostOptions): Promise<SshHost> {
  const rand = randomBytes(3).toString('hex');
  const ns = `${opts.prefix}-ssh-${process.pid}-${rand}`;
  const vh = `${opts.prefix}h${rand}`.slice(0, 15);
  const vn = `${opts.prefix}n${rand}`.slice(0, 15);
  const port = opts.port ?? 20000 + Math.floor(Math.random() * 10000);
  // Under /run (root-owned 0755) rather than /tmp: sshd's StrictModes checks every directory above
  // the authorized_keys files, and /tmp is world-writable.
  mkdirSync('/run/metis-test', { recursive: true, mode: 0o755 });
  const dir = mkdtempSync(`/run/metis-test/${opts.prefix}-sshhost-`);
  chmodSync(dir, 0o755);
  const cleanups: Array<() => Promise<void> | void> = [];
  let sshd: ChildProcess | null = null;
  const stop = async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => {});
    cleanups.length = 0;
  };

  try {
    const [peerAddr, addr] = await freeSubnet();
    await run('ip', ['netns', 'add', ns]);
    cleanups.push(() => run('ip', ['netns', 'delete', ns]).then(() => {}));
    await run('ip', ['link', 'add', vh, 'type', 'veth', 'peer', 'name', vn]);
    cleanups.push(() => run('ip', ['link', 'delete', vh]).then(() => {}));
    await run('ip', ['link', 'set', vn, 'netns', ns]);
    await run('ip', ['addr', 'add', `${peerAddr}/30`, 'dev', vh]);
    await run('ip', ['link', 'set', vh, 'up']);
    await run('ip', ['-n', ns, 'addr', 'add', `${addr}/30`, 'dev', vn]);
    await run('ip', ['-n', ns, 'link', 'set', vn, 'up']);
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);

    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${ns}-host`, '-f', join(dir, 'host_ed25519')]);
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${ns}-client`, '-f', join(dir, 'id_ed25519')]);
    const hostKey = readFileSync(join(dir, 'host_ed25519.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
    const clientKey = readFileSync(join(dir, 'id_ed25519.pub'), 'utf8').trim();
    const keysDir = join(dir, 'authorized_keys');
    mkdirSync(keysDir, { mode: 0o755 });
    writeFileSync(join(keysDir, 'root'), `${clientKey}\n`, { mode: 0o644 });

    const users: SshHostUser[] = [];
    const alias = `${opts.prefix}-host-${rand}`;
    for (const spec of opts.users ?? [{}]) {
      const name = spec.name ?? `${opts.prefix}u${randomBytes(3).toString('hex')}`;
      const password = spec.password ?? `pw-${randomBytes(8).toString('hex')}`;
      const sudo = spec.sudo ?? 'password';
      await run('useradd', ['-m', '-s', '/bin/bash', name]);
      cleanups.push(async () => {
        await run('userdel', ['-r', '-f', name]).catch(() => {});
      });
      await run('chpasswd', [], `${name}:${password}\n`);
      if (sudo !== 'none') {
        const file = `/etc/sudoers.d/${name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
        const rule = sudo === 'nopasswd' ? `${name} ALL=(ALL:ALL) NOPASSWD: ALL` : `${name} ALL=(ALL:ALL) ALL`;
        writeFileSync(file, `Defaults:${name} timestamp_timeout=0, !lecture\n${rule}\n`, { mode: 0o440 });
        cleanups.push(() => rmSync(file, { force: true }));
      }
      writeFileSync(join(keysDir, name), `${clientKey}\n`, { mode: 0o644 });
      users.push({ name, password, sudo, home: `/home/${name}`, target: `${name}@${alias}` });
    }

    const pidFile = join(dir, 'sshd.pid');
    writeFileSync(
      join(dir, 'sshd_config'),
      [
        `Port ${port}`,
        `ListenAddress ${addr}`,
        `HostKey ${join(dir, 'host_ed25519')}`,
        `PidFile ${pidFile}`,
        `AuthorizedKeysFile ${keysDir}/%u`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM yes',
        'PrintMotd no',
        'AcceptEnv LANG LC_*',
        'Subsystem sftp /usr/lib/openssh/sftp-server',
        '',
      ].join('\n'),
    );
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    await run('/usr/sbin/sshd', ['-t', '-f', join(dir, 'sshd_config')]);

    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, `[${addr}]:${port} ${hostKey}\n`);
    const sshConfig = join(dir, 'ssh_config');
    writeFileSync(
      sshConfig,
      [
        `Host ${alias} ${addr}`,
        `  HostName ${addr}`,
        `  Port ${port}`,
        '  User root',
        `  IdentityFile ${join(dir, 'id_ed25519')}`,
        '  IdentitiesOnly yes',
        `  UserKnownHostsFile ${knownHosts}`,
        '  GlobalKnownHostsFile /dev/null',
        '  StrictHostKeyChecking yes',
        '  BatchMode yes',
        '',
      ].join('\n'),
    );

    const sshdArgv = ['/usr/sbin/sshd', '-D', '-e', '-f', join(dir, 'sshd_config')];
    const login = opts.login ?? 'debian';
    const bashrc = join(dir, 'root.bashrc');
    if (login === 'empty') writeFileSync(bashrc, '');
    else if (login === 'debian') writeFileSync(bashrc, existsSync(DEBIAN_ROOT_BASHRC) ? readFileSync(DEBIAN_ROOT_BASHRC) : '');
    const argv =
      login !== 'machine' && existsSync('/root/.bashrc')
        ? ['sh', '-c', 'mount --bind "$0" /root/.bashrc && exec "$@"', bashrc, ...sshdArgv]
        : sshdArgv;
    sshd = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
    const proc = sshd;
    let log = '';
    proc.stderr!.on('data', (b: Buffer) => {
      log += b.toString();
      if (log.length > 200_000) log = log.slice(-100_000);
    });
    cleanups.push(async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        const gone = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      }
    });
    // Session processes (sshd children, remote commands) live in the namespace: stop them by PID.
    cleanups.push(async () => {
      const pids = (await execa('ip', ['netns', 'pids', ns], { reject: false })).stdout.split('\n').map(Number).filter((p) => p > 0);
      for (const p of pids) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    });
    const deadline = Date.now() + 10_000;
    while (!log.includes('Server listening')) {
      if (proc.exitCode !== null) throw new Error(`sshd exited ${proc.exitCode}: ${log}`);
      if (Date.now() > deadline) throw new Error(`sshd did not start within 10 s: ${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }

    const exec = async (argv: string[], o: { input?: string; reject?: boolean } = {}): Promise<ExecResult> => {
      const r = await execa('ip', ['netns', 'exec', ns, ...argv], { reject: false, input: o.input, stdin: o.input === undefined ? 'ignore' : 'pipe' });
      const res = { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? 128 };
      if (o.reject && res.exitCode !== 0) throw new Error(`${argv.join(' ')} in ${ns} failed (${res.exitCode}): ${res.stderr}`);
      return res;
    };
    const sshdPid = proc.pid!;
    const host: SshHost = {
      ns,
      addr,
      peerAddr,
      link: vh,
      port,
      alias,
      dir,
      sshConfig,
      identityFile: join(dir, 'id_ed25519'),
      knownHosts,
      hostKey,
      sshdPid,
      log: () => log,
      users,
      env: { ...process.env, METIS_SSH_CONFIG: sshConfig },
      exec,
      pids: async () => (await execa('ip', ['netns', 'pids', ns], { reject: false })).stdout.split('\n').map(Number).filter((p) => p > 0 && p !== sshdPid),
      stop: async () => {
        await stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
    return host;
  } catch (e) {
    await stop();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Several hosts at once, all or none: every start is waited for (each one that fails has removed
 * what it made), and when any failed, the ones that started are stopped before the first error is
 * thrown. `Promise.all` would reject at the first failure and leave the others' namespaces, sshd
 * and users behind when the test file ends.
 */
export async function startSshHosts(opts: SshHostOptions[]): Promise<SshHost[]> {
  const settled = await Promise.allSettled(opts.map((o) => startSshHost(o)));
  const started = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((h) => h.stop().catch(() => {})));
    throw failed.reason;
  }
  return started;
}
