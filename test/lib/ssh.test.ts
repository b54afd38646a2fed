import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { classifySshFailure, formatSshTarget, parseSshTarget, remoteCommand, sshCommand, SshError, sshRun, sshSpawn } from '../../src/lib/ssh.js';
import { startSshHost, type SshHost } from '../helpers/ssh-host.js';

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
    [a, b] = await Promise.all([startSshHost({ prefix: 'mrm' }), startSshHost({ prefix: 'mrm', users: [{ sudo: 'nopasswd' }] })]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

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
});
