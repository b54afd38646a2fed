import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { classifySshFailure, formatSshTarget, openSshSession, parseSshTarget, remoteCommand, sshCommand, SshError, sshMasterCommand, sshRun, sshSpawn, withSshSession } from '../../src/lib/ssh.js';
import { startSshHosts, type SshHost } from '../helpers/ssh-host.js';

describe('parseSshTarget', () => {
  it.each([
    ['titan-22', { host: 'titan-22' }],
    ['pi@titan-22', { user: 'pi', host: 'titan-22' }],
    ['pi@10.0.0.2:2222', { user: 'pi', host: '10.0.0.2', port: 2222 }],
    ['[fd00::2]:22', { host: 'fd00::2', port: 22 }],
    ['root@[fd00::2]', { user: 'root', host: 'fd00::2' }],
    ['host.example.org:65535', { host: 'host.example.org', port: 65535 }],
  ])('%s', (text, want) => {
    expect(parseSshTarget(text)).toEqual(want);
    expect(parseSshTarget(formatSshTarget(parseSshTarget(text)))).toEqual(want);
  });
  it.each(['', 'host:0', 'host:70000', '-oProxyCommand=x', 'a b', 'u;rm@h', 'host:', '@host', 'h$(x)'])('refuses %j', (text) => {
    expect(() => parseSshTarget(text)).toThrow(SshError);
    try {
      parseSshTarget(text);
    } catch (e) {
      expect((e as SshError).code).toBe('E_SSH_TARGET');
    }
  });
});

describe('sshCommand', () => {
  it('quotes every argument for the remote shell and puts the host after --', () => {
    const { file, args } = sshCommand({ user: 'u', host: 'h', port: 2200 }, ['printf', '%s\n', "it's; $(rm -rf /)", ''], { env: { METIS_SSH_CONFIG: '/c' } });
    expect(file).toBe('ssh');
    expect(args.slice(0, 2)).toEqual(['-F', '/c']);
    expect(args).toContain('BatchMode=yes');
    expect(args.join(' ')).not.toMatch(/StrictHostKeyChecking|UserKnownHostsFile/);
    expect(args.slice(-3)).toEqual(['--', 'h', `printf '%s\n' 'it'\\''s; $(rm -rf /)' ''`]);
    expect(args).toEqual(expect.arrayContaining(['-l', 'u', '-p', '2200']));
  });
  it("a session's commands use its master and never become one; the master keeps host-key checking", () => {
    const { args } = sshCommand({ host: 'h', mux: '/t/metis-ssh-x/cm' }, ['true'], { env: { METIS_SSH_CONFIG: '/c' } });
    expect(args.join(' ')).toContain('-o ControlMaster=no -o ControlPath=/t/metis-ssh-x/cm');
    const m = sshMasterCommand({ user: 'u', host: 'h', port: 2 }, '/t/x/cm', { env: { METIS_SSH_CONFIG: '/c' } });
    expect(m.args.slice(0, 2)).toEqual(['-F', '/c']);
    expect(m.args.join(' ')).toMatch(/-o ControlMaster=yes -o ControlPath=\/t\/x\/cm -o ControlPersist=\d+ -N -f -l u -p 2 -- h$/);
    expect(m.args).toContain('BatchMode=yes');
    expect(m.args.join(' ')).not.toMatch(/StrictHostKeyChecking|UserKnownHostsFile/);
  });
  it('METIS_SSH replaces the binary', () => {
    expect(sshCommand({ host: 'h' }, ['true'], { env: { METIS_SSH: '/x/ssh-wrap' } }).file).toBe('/x/ssh-wrap');
  });
  it('the remote shell sees each argument exactly (checked by a real sh)', async () => {
    const argv = ['printf', '[%s]', "a'b", 'c d', '$HOME', '`id`', '*', ''];
    const r = await execa('sh', ['-c', remoteCommand(argv)]);
    expect(r.stdout).toBe("[a'b][c d][$HOME][`id`][*][]");
  });
  it('classifies ssh exit 255 by its message', () => {
    expect(classifySshFailure('h', 0, 'Permission denied (publickey).')).toBeNull();
    expect(classifySshFailure('h', 1, 'Permission denied (publickey).')).toBeNull();
    expect(classifySshFailure('h', 255, 'u@h: Permission denied (publickey).')?.code).toBe('E_SSH_AUTH');
    expect(classifySshFailure('h', 255, 'Host key verification failed.')?.code).toBe('E_SSH_HOST_KEY');
    expect(classifySshFailure('h', 255, 'ssh: connect to host h port 22: Connection refused')?.code).toBe('E_SSH_UNREACHABLE');
    expect(classifySshFailure('h', 255, 'ssh: Could not resolve hostname h: Name or service not known')?.code).toBe('E_SSH_UNREACHABLE');
    expect(classifySshFailure('h', 255, 'something else')?.code).toBe('E_SSH');
  });
});

const root = process.getuid?.() === 0;
if (!root) console.warn('ssh host tests skipped: they create network namespaces, users and run sshd, which needs root');

describe.skipIf(!root)('against real sshd in network namespaces (test/helpers/ssh-host.ts)', () => {
  let a: SshHost;
  let b: SshHost;
  beforeAll(async () => {
    [a, b] = (await startSshHosts([{ prefix: 'mrm' }, { prefix: 'mrm', users: [{ sudo: 'nopasswd' }] }])) as [SshHost, SshHost];
  }, 180_000);
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  }, 60_000);

  it('runs a remote argv as root and as the user, on two hosts at once, input over stdin', async () => {
    const ra = await sshRun({ host: a.alias }, ['sh', '-c', 'id -un; cat'], { env: a.env, input: 'from stdin', timeoutMs: 20_000 });
    expect(ra).toEqual({ stdout: 'root\nfrom stdin', stderr: '', exitCode: 0 });
    const u = a.users[0]!;
    const ru = await sshRun(parseSshTarget(u.target), ['id', '-un'], { env: a.env, timeoutMs: 20_000 });
    expect(ru.stdout.trim()).toBe(u.name);
    const rb = await sshRun(parseSshTarget(`${b.users[0]!.name}@${b.addr}`), ['sudo', '-n', 'id', '-u'], { env: b.env, timeoutMs: 20_000 });
    expect(rb.stdout.trim()).toBe('0');
    // The two hosts are different namespaces.
    expect(a.ns).not.toBe(b.ns);
    expect((await a.exec(['ip', '-br', 'addr'])).stdout).toContain(a.addr);
    expect((await a.exec(['ip', '-br', 'addr'])).stdout).not.toContain(b.addr);
  });

  it('returns the remote exit code without throwing', async () => {
    const r = await sshRun({ host: a.alias }, ['sh', '-c', 'echo oops >&2; exit 7'], { env: a.env });
    expect(r.exitCode).toBe(7);
    expect(r.stderr).toBe('oops\n');
  });

  it("the password user's sudo asks for the password (no cached timestamp, no tty → refused)", async () => {
    const u = a.users[0]!;
    const r = await sshRun(parseSshTarget(u.target), ['sudo', '-n', 'true'], { env: a.env });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/password is required/);
    const ok = await sshRun(parseSshTarget(u.target), ['sudo', '-S', '-p', '', 'id', '-u'], { env: a.env, input: `${u.password}\n` });
    expect(ok.stdout.trim()).toBe('0');
  });

  it('refuses a host whose key does not match known_hosts (E_SSH_HOST_KEY), never connecting', async () => {
    // b's key recorded for a's address: exactly what a changed host key looks like.
    const kh = join(a.dir, 'known_hosts_wrong');
    writeFileSync(kh, `[${a.addr}]:${a.port} ${b.hostKey}\n`);
    const cfg = join(a.dir, 'ssh_config_wrong');
    writeFileSync(cfg, `Host ${a.addr}\n  Port ${a.port}\n  User root\n  IdentityFile ${a.identityFile}\n  UserKnownHostsFile ${kh}\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n`);
    const err = await sshRun({ host: a.addr }, ['touch', '/tmp/mrm-should-not-exist'], { env: { ...process.env, METIS_SSH_CONFIG: cfg } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SshError);
    expect((err as SshError).code).toBe('E_SSH_HOST_KEY');
    // An unknown host (empty known_hosts) is refused the same way: checking is never off.
    writeFileSync(kh, '');
    const err2 = await sshRun({ host: a.addr }, ['true'], { env: { ...process.env, METIS_SSH_CONFIG: cfg } }).catch((e: unknown) => e);
    expect((err2 as SshError).code).toBe('E_SSH_HOST_KEY');
  });

  it('a key the host does not know is E_SSH_AUTH; a closed port is E_SSH_UNREACHABLE', async () => {
    const auth = await sshRun({ host: b.alias }, ['true'], { env: { ...process.env, METIS_SSH_CONFIG: b.sshConfig.replace(b.dir, b.dir) }, connectTimeoutSec: 5 }).then(() => null, (e: unknown) => e);
    expect(auth).toBeNull(); // sanity: b's own key works
    const cfg = join(a.dir, 'ssh_config_other_key');
    writeFileSync(cfg, readFileSync(a.sshConfig, 'utf8').replace(a.identityFile, b.identityFile));
    const denied = await sshRun({ host: a.alias }, ['true'], { env: { ...process.env, METIS_SSH_CONFIG: cfg } }).catch((e: unknown) => e);
    expect((denied as SshError).code).toBe('E_SSH_AUTH');
    const refused = await sshRun({ host: a.alias, port: a.port + 1 }, ['true'], { env: a.env, connectTimeoutSec: 5 }).catch((e: unknown) => e);
    expect((refused as SshError).code).toBe('E_SSH_UNREACHABLE');
  });

  it('the streaming variant pipes bytes both ways; aborting kills the remote command', async () => {
    const p = sshSpawn({ host: a.alias }, ['sha256sum'], { env: a.env });
    const out: Buffer[] = [];
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stdin.end(Buffer.alloc(3 * 1024 * 1024, 7));
    expect(await p.exited).toBe(0);
    const want = (await execa('sh', ['-c', 'head -c 3145728 /dev/zero | tr "\\0" "\\7" | sha256sum'])).stdout;
    expect(Buffer.concat(out).toString().trim()).toBe(want);

    const ac = new AbortController();
    const marker = `mrm-sleep-${process.pid}`;
    const s = sshSpawn({ host: a.alias }, ['sh', '-c', `exec -a ${marker} sleep 300`], { env: a.env, signal: ac.signal });
    // Bounded wait until the remote sleep runs.
    for (let i = 0; i < 100 && !(await a.exec(['pgrep', '-f', marker])).stdout.trim(); i++) await new Promise((r) => setTimeout(r, 100));
    expect((await a.exec(['pgrep', '-f', marker])).stdout.trim()).not.toBe('');
    ac.abort();
    await s.exited;
    let left = 'x';
    for (let i = 0; i < 100 && left; i++) {
      left = (await a.exec(['pgrep', '-f', marker])).stdout.trim();
      if (left) await new Promise((r) => setTimeout(r, 100));
    }
    expect(left).toBe('');
  });

  const accepted = (h: SshHost) => (h.log().match(/Accepted publickey for /g) ?? []).length;

  it('a session authenticates once for every command of an operation; its socket dir is 0700 and gone after close', async () => {
    const tmp = mkdtempSync('/tmp/mrm-sess-');
    try {
      const env = { ...a.env, TMPDIR: tmp };
      const before = accepted(a);
      const s = await openSshSession({ host: a.alias }, { env });
      const [dir] = readdirSync(tmp);
      expect(dir).toMatch(/^metis-ssh-/);
      expect(statSync(join(tmp, dir!)).mode & 0o777).toBe(0o700);
      expect(s.target.mux).toBe(join(tmp, dir!, 'cm'));
      expect(statSync(s.target.mux!).isSocket()).toBe(true);
      for (let i = 0; i < 3; i++) expect((await sshRun(s.target, ['echo', `n${i}`], { env })).stdout).toBe(`n${i}\n`);
      const p = sshSpawn(s.target, ['wc', '-c'], { env });
      const out: Buffer[] = [];
      p.stdout.on('data', (d: Buffer) => out.push(d));
      p.stdin.end(Buffer.alloc(100_000));
      expect(await p.exited).toBe(0);
      expect(Buffer.concat(out).toString().trim()).toBe('100000');
      // The remote exit code still comes back through the master.
      expect((await sshRun(s.target, ['sh', '-c', 'exit 7'], { env })).exitCode).toBe(7);
      expect(accepted(a) - before).toBe(1);
      await s.close();
      expect(readdirSync(tmp)).toEqual([]);
      // The master has gone: the host has no session left (bounded wait for sshd's children to exit).
      let left = await a.pids();
      for (let i = 0; i < 50 && left.length; i++) {
        await new Promise((r) => setTimeout(r, 100));
        left = await a.pids();
      }
      expect(left).toEqual([]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('a session to a host with the wrong key fails like one command (E_SSH_HOST_KEY) and leaves no socket dir', async () => {
    const tmp = mkdtempSync('/tmp/mrm-sess-');
    try {
      const kh = join(a.dir, 'known_hosts_wrong2');
      writeFileSync(kh, `[${a.addr}]:${a.port} ${b.hostKey}\n`);
      const cfg = join(a.dir, 'ssh_config_wrong2');
      writeFileSync(cfg, readFileSync(a.sshConfig, 'utf8').replace(a.knownHosts, kh));
      const ran: string[] = [];
      const err = await withSshSession({ host: a.alias }, { env: { ...process.env, METIS_SSH_CONFIG: cfg, TMPDIR: tmp } }, async () => {
        ran.push('fn');
      }).catch((e: unknown) => e);
      expect((err as SshError).code).toBe('E_SSH_HOST_KEY');
      expect(ran).toEqual([]);
      expect(readdirSync(tmp)).toEqual([]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
