import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, appendFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { sshdModule, SSHD_DROPIN } from '../../../src/bootstrap/modules/sshd.js';
import { applyPlanned, convergeLoop, makeContext } from '../../helpers/context.js';
import { useSysroot } from '../sysroot.js';
import { debianSshd } from '../debian-debs.js';

let root: string;
useSysroot('metis-mod-sshd-', (r) => (root = r));

const args = { port: 2277, passwordAuthentication: false, permitRootLogin: 'prohibit-password' };

describe('sshd module', () => {
  it('writes the drop-in; without sshd under the root it says it did not validate', async () => {
    const first = await convergeLoop(sshdModule, args, makeContext({ root }));
    expect(first.reason).toMatch(/sshd not installed under .*: not validated/);
    expect(readFileSync(join(root, SSHD_DROPIN), 'utf8')).toContain('Port 2277\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n');
  });

  it.each([[{ port: 0 }], [{ port: '22' }], [{ port: 22, permitRootLogin: 'maybe' }], [{ port: 22, extra: 1 }]])('refuses args %j', (a) => {
    expect(sshdModule.args.safeParse(a).success).toBe(false);
  });
});

// Real validation: Debian's own sshd (bookworm openssh-server), run in a chroot of the sysroot.
const isRoot = process.getuid?.() === 0;
const sshd = isRoot ? debianSshd() : { skip: 'needs root: chroot' };
if ('skip' in sshd) console.warn(`skip: sshd validation: ${sshd.skip}`);

describe.skipIf('skip' in sshd)('sshd module validates with the root\'s sshd -t', () => {
  beforeEach(() => {
    if ('skip' in sshd) return;
    // The sysroot gets Debian's sshd, its shared libraries and the privilege-separation user.
    const copy = (from: string, to: string) => {
      mkdirSync(dirname(join(root, to)), { recursive: true });
      copyFileSync(from, join(root, to));
    };
    copy(sshd.binary, '/usr/sbin/sshd');
    for (const lib of sshd.libs) copy(lib, lib);
    appendFileSync(join(root, 'etc/passwd'), 'sshd:x:101:65534::/run/sshd:/usr/sbin/nologin\n');
    appendFileSync(join(root, 'etc/group'), 'nogroup:x:65534:\n');
    // No /run/sshd: it exists only while ssh.service runs (RuntimeDirectory), and sshd -t must work before.
    // As a debootstrap root has it: sshd opens /dev/null.
    mkdirSync(join(root, 'dev'), { recursive: true });
    execFileSync('mknod', ['-m', '666', join(root, 'dev/null'), 'c', '1', '3']);
  });

  it('a valid candidate lands', async () => {
    const ctx = makeContext({ root });
    const first = await convergeLoop(sshdModule, args, ctx);
    expect(first.reason).not.toMatch(/not validated/);
    expect(ctx.logs()).toMatch(/chroot .*\/usr\/sbin\/sshd -t -f \/run\/metis-sshd-/);
    expect(readdirSync(join(root, 'run'))).toEqual([]);
  });

  it('a candidate sshd rejects never lands: the old drop-in stays', async () => {
    writeFileSync(join(root, SSHD_DROPIN), 'Port 22\n');
    // Another drop-in with a bad directive makes the full candidate config invalid.
    writeFileSync(join(root, 'etc/ssh/sshd_config.d/50-broken.conf'), 'NoSuchDirective yes\n');
    const ctx = makeContext({ root });
    const a = sshdModule.args.parse(args);
    const plan = await sshdModule.check(a, ctx);
    expect(plan.status).toBe('change');
    await expect(applyPlanned(sshdModule, a, ctx, plan)).rejects.toThrow(/sshd -t .* exited 255.*NoSuchDirective/s);
    expect(readFileSync(join(root, SSHD_DROPIN), 'utf8')).toBe('Port 22\n');
    expect(readdirSync(join(root, 'etc/ssh/sshd_config.d')).sort()).toEqual(['50-broken.conf', '60-metis.conf']);
    expect(readdirSync(join(root, 'run')).filter((f) => f.startsWith('metis-'))).toEqual([]);
  });
});
