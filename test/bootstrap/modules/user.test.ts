import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SUDOERS, userModule } from '../../../src/bootstrap/modules/user.js';
import type { Action } from '../../../src/bootstrap/actions.js';
import { convergeLoop, makeContext, tempRoot } from '../../helpers/context.js';

// Real useradd/usermod (Debian's passwd package) with --root on a temp sysroot; real visudo.
const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

const KEY1 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPRmABP4nzXJlm3g1mXswQ5x7CDlV2P3NORfaZwINPlD alice@laptop';
const KEY2 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH0aO9GZ8Vn3Pq2xYy8m0fQ1cE2b3d4e5f6a7b8c9d0e alice@phone';
const HASH = '$6$salt$0123456789abcdefABCDEF';

function sysroot(): string {
  const { root, cleanup } = tempRoot('metis-user-');
  cleanups.push(cleanup);
  const put = (p: string, text: string, mode = 0o644) => {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), text, { mode });
  };
  put('etc/passwd', 'root:x:0:0:root:/root:/bin/bash\nadmin:x:1000:1000:Admin:/home/admin:/bin/sh\n');
  put('etc/shadow', `root:*:20000:0:99999:7:::\nadmin:${HASH}:20000:0:99999:7:::\n`, 0o640);
  put('etc/group', 'root:x:0:\nadm:x:4:admin\nsudo:x:27:\ndocker:x:990:\nadmin:x:1000:\n');
  put('etc/gshadow', 'root:*::\nadm:*::admin\nsudo:*::\ndocker:!::\nadmin:!::\n', 0o640);
  put('etc/sudoers', 'Defaults env_reset\nroot ALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n', 0o440);
  mkdirSync(join(root, 'etc/sudoers.d'), { mode: 0o755 });
  mkdirSync(join(root, 'home/admin'), { recursive: true });
  mkdirSync(join(root, 'bin'), { recursive: true });
  return root;
}

const read = (root: string, p: string) => readFileSync(join(root, p), 'utf8');
const line = (root: string, file: string, name: string) => read(root, file).split('\n').find((l) => l.startsWith(`${name}:`));

const users = [
  { name: 'alice', uid: 1500, groups: ['adm', 'sudo'], shell: '/bin/bash', sudo: 'nopasswd', authorizedKeys: [KEY1, KEY2] },
  { name: 'admin', groups: [], shell: '/bin/bash' },
];

describe('user module (real useradd/usermod --root, visudo)', () => {
  it('creates and corrects accounts, keys and the sudo rule; check → change, apply, check → ok', async () => {
    const root = sysroot();
    const ctx = makeContext({ root });
    const first = await convergeLoop(userModule, { users }, ctx);
    // Planned: useradd for alice (with --root), usermod for admin's shell, groups and lock, the sudo file.
    const argv = first.actions.filter((a): a is Extract<Action, { kind: 'run' }> => a.kind === 'run').map((a) => a.argv.join(' '));
    expect(argv).toEqual([
      `useradd --root ${root} --create-home --user-group --shell /bin/bash --uid 1500 --groups adm,sudo -- alice`,
      `usermod --root ${root} --shell /bin/bash --groups  -- admin`,
      `usermod --root ${root} --lock -- admin`,
    ]);
    expect(line(root, 'etc/passwd', 'alice')).toMatch(/^alice:x:1500:\d+::\/home\/alice:\/bin\/bash$/);
    expect(line(root, 'etc/passwd', 'admin')).toBe('admin:x:1000:1000:Admin:/home/admin:/bin/bash');
    expect(line(root, 'etc/group', 'sudo')).toBe('sudo:x:27:alice');
    expect(line(root, 'etc/group', 'adm')).toBe('adm:x:4:alice');
    // admin's password is locked (hash kept behind "!"); alice's was never set.
    expect(line(root, 'etc/shadow', 'admin')).toContain(`admin:!${HASH}:`);
    expect(line(root, 'etc/shadow', 'alice')).toMatch(/^alice:!/);
    // alice's keys, owned by her, 0600 in a 0700 ~/.ssh.
    const ak = join(root, 'home/alice/.ssh/authorized_keys');
    expect(readFileSync(ak, 'utf8')).toContain(`${KEY1}\n${KEY2}\n`);
    expect(statSync(ak)).toMatchObject({ uid: 1500 });
    expect(statSync(ak).mode & 0o777).toBe(0o600);
    expect(statSync(join(root, 'home/alice/.ssh')).mode & 0o777).toBe(0o700);
    // The sudo rule: 0440 root, accepted by the real visudo.
    expect(read(root, SUDOERS)).toContain('alice ALL=(ALL:ALL) NOPASSWD: ALL\n');
    expect(read(root, SUDOERS)).not.toContain('admin');
    expect(statSync(join(root, SUDOERS)).mode & 0o777).toBe(0o440);
    execFileSync('visudo', ['-c', '-q', '-f', join(root, SUDOERS)]);
    expect(first.actions.find((a) => a.kind === 'write' && a.path === SUDOERS)).toMatchObject({ validate: { argv: ['visudo', '-c', '-q', '-f', '%s'] } });
  });

  it('check mode is exact: plans the change, changes nothing; after apply it reports ok', async () => {
    const root = sysroot();
    const before = ['etc/passwd', 'etc/group', 'etc/shadow'].map((p) => read(root, p));
    const r = await userModule.check(userModule.args.parse({ users }), makeContext({ root, checkMode: true }));
    expect(r.status).toBe('change');
    expect(r.status === 'change' && r.diff!.map((d) => d.target)).toEqual([
      'user alice', 'user alice authorized_keys', 'user admin shell', 'user admin groups', 'user admin password', SUDOERS,
    ]);
    expect(['etc/passwd', 'etc/group', 'etc/shadow'].map((p) => read(root, p))).toEqual(before);
    await convergeLoop(userModule, { users }, makeContext({ root }));
    expect((await userModule.check(userModule.args.parse({ users }), makeContext({ root, checkMode: true }))).status).toBe('ok');
  });

  it('drift on the node (extra group, other shell, a key edited in the block, sudo dropped) is exactly what changes back', async () => {
    const root = sysroot();
    const ctx = makeContext({ root });
    await convergeLoop(userModule, { users }, ctx);
    execFileSync('usermod', ['--root', root, '--append', '--groups', 'docker', '--shell', '/bin/sh', 'alice'], { stdio: 'ignore' });
    const r = await userModule.check(userModule.args.parse({ users }), ctx);
    expect(r.status === 'change' && r.diff!.map((d) => d.target)).toEqual(['user alice shell', 'user alice groups']);
    await convergeLoop(userModule, { users }, ctx);
    expect(line(root, 'etc/group', 'docker')).toBe('docker:x:990:');
    // Keys outside Metis's block are kept; the block follows the manifest.
    const ak = join(root, 'home/alice/.ssh/authorized_keys');
    writeFileSync(ak, `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOWNED other@host\n${readFileSync(ak, 'utf8')}`);
    const fewer = [{ ...users[0]!, authorizedKeys: [KEY1], sudo: 'none', groups: ['adm'] }, users[1]!];
    await convergeLoop(userModule, { users: fewer }, ctx);
    expect(readFileSync(ak, 'utf8')).toContain('other@host');
    expect(readFileSync(ak, 'utf8')).not.toContain(KEY2);
    // No user has sudo any more: the rule file is removed.
    expect(() => statSync(join(root, SUDOERS))).toThrow();
    expect(line(root, 'etc/group', 'sudo')).toBe('sudo:x:27:');
  });

  it('a sudo rule visudo rejects never replaces the file (validated before it is moved in place)', async () => {
    const root = sysroot();
    const ctx = makeContext({ root });
    await convergeLoop(userModule, { users }, ctx);
    const good = read(root, SUDOERS);
    // Fault injection: the planned write with broken content, carried out by the engine.
    const plan = await userModule.check(userModule.args.parse({ users: [{ ...users[0]!, sudo: 'password', lockPassword: false }, users[1]!] }), ctx);
    const write = plan.status === 'change' ? plan.actions.find((a) => a.kind === 'write' && a.path === SUDOERS) : undefined;
    expect(write).toBeDefined();
    await expect(ctx.execute([{ ...(write as Extract<Action, { kind: 'write' }>), content: 'alice ALL=(ALL NOPASSWD ALL\n' }])).rejects.toThrow();
    expect(read(root, SUDOERS)).toBe(good);
  });

  it('fails, changing nothing, for a group the node lacks, a uid another account holds, or sudo without sudo installed', async () => {
    const root = sysroot();
    const ctx = makeContext({ root });
    const before = read(root, 'etc/passwd');
    const check = (u: unknown[]) => userModule.check(userModule.args.parse({ users: u }), ctx);
    expect(await check([{ name: 'carol', groups: ['wheel'] }])).toEqual({ status: 'fail', reason: expect.stringContaining('group wheel (for carol) does not exist') });
    expect(await check([{ name: 'carol', uid: 1000 }])).toEqual({ status: 'fail', reason: expect.stringContaining('uid 1000 for carol already belongs to admin') });
    execFileSync('rm', [join(root, 'etc/sudoers')]);
    expect(await check([{ name: 'carol', sudo: 'nopasswd' }])).toEqual({ status: 'fail', reason: expect.stringContaining('sudo is not installed') });
    expect(read(root, 'etc/passwd')).toBe(before);
  });
});
