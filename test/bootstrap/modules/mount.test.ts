import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fstabMountPoints, mountModule, renderFstab } from '../../../src/bootstrap/modules/mount.js';
import { convergeLoop, makeContext, tempRoot } from '../../helpers/context.js';

const A = '3a1f0c2e-5b7d-4e8f-9a10-b2c3d4e5f601';
const B = '7c9e2d41-0a3b-4c5d-8e6f-a1b2c3d4e5f6';
const mounts = [
  { uuid: A, path: '/mnt/astreae', fstype: 'ext4', options: ['defaults', 'noatime'] },
  { uuid: B, path: '/mnt/asteria', fstype: 'ext4' },
];
const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

/** Real ext4 filesystems in files, linked where udev would put them. */
function sysroot(withDisks: Array<[string, string]>): string {
  const { root, cleanup } = tempRoot();
  cleanups.push(cleanup);
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(join(root, 'dev/disk/by-uuid'), { recursive: true });
  mkdirSync(join(root, 'disks'));
  writeFileSync(join(root, 'etc/fstab'), 'UUID=1111-2222 /boot/firmware vfat defaults 0 2\nUUID=abc / ext4 defaults 0 1\n');
  for (const [uuid, type] of withDisks) {
    const img = join(root, 'disks', `${uuid}.img`);
    execFileSync('truncate', ['-s', '8M', img]);
    execFileSync(type === 'ext4' ? 'mkfs.ext4' : 'mkfs.vfat', type === 'ext4' ? ['-q', '-F', '-U', uuid, img] : [img], { stdio: 'ignore' });
    symlinkSync(img, join(root, 'dev/disk/by-uuid', uuid));
  }
  return root;
}

describe('mount', () => {
  it('writes fstab lines by UUID with nofail and a device timeout; check → change, apply, check → ok', async () => {
    const root = sysroot([[A, 'ext4'], [B, 'ext4']]);
    const ctx = makeContext({ root });
    const first = await convergeLoop(mountModule, { mounts }, ctx);
    expect(first.diff?.map((d) => d.target)).toContain('/etc/fstab');
    const fstab = readFileSync(join(root, 'etc/fstab'), 'utf8');
    expect(fstab).toContain(`UUID=${A} /mnt/astreae ext4 defaults,noatime,nofail,x-systemd.device-timeout=10s,x-systemd.before=metis-online.target,x-systemd.before=metis-bootstrap.service 0 2 # metis`);
    expect(fstab.startsWith('UUID=1111-2222 /boot/firmware vfat defaults 0 2\nUUID=abc / ext4 defaults 0 1\n')).toBe(true);
  });

  it('replaces its own lines in place, never duplicates, never touches others', () => {
    const before = `a\nUUID=x /mnt/old ext4 defaults 0 2 # metis\nb\nUUID=y /mnt/older ext4 defaults 0 2 # metis\n`;
    const out = renderFstab(before, [{ uuid: A, path: '/mnt/astreae', fstype: 'ext4', options: ['defaults'], deviceTimeoutSec: 10 }]);
    expect(out.split('\n')).toEqual(['a', `UUID=${A} /mnt/astreae ext4 defaults,nofail,x-systemd.device-timeout=10s,x-systemd.before=metis-online.target,x-systemd.before=metis-bootstrap.service 0 2 # metis`, 'b', '']);
    expect(renderFstab(out, [{ uuid: A, path: '/mnt/astreae', fstype: 'ext4', options: ['defaults'], deviceTimeoutSec: 10 }])).toBe(out);
  });

  it('live: a reload before mounting only when the old fstab already named a mount point (its unit could fight the mount)', async () => {
    const root = sysroot([[A, 'ext4'], [B, 'ext4']]);
    const ctx = makeContext({ root, checkMode: true });
    // The plan under test, on a temp root: pretend live (nothing is carried out in check mode).
    ctx.live = true;
    const a = mountModule.args.parse({ mounts });
    const kinds = async () => {
      const r = await mountModule.check(a, ctx);
      return r.status === 'change' ? r.actions.map((x) => (x.kind === 'run' ? x.argv.join(' ') : x.kind)) : [];
    };
    // First boot: neither path in fstab, no unit to fight: no reload of its own.
    expect(await kinds()).toEqual(['mkdir', 'mkdir', 'write', 'mount /mnt/astreae', 'mount /mnt/asteria']);
    writeFileSync(join(root, 'etc/fstab'), `UUID=old-disk /mnt/asteria ext4 defaults 0 2 # metis\n`);
    expect(await kinds()).toEqual(['mkdir', 'mkdir', 'write', 'daemon-reload', 'mount /mnt/astreae', 'mount /mnt/asteria']);
  });

  it.each<[string, string[]]>([
    ['UUID=a / ext4 defaults 0 1\n# UUID=b /mnt/x ext4\n\n  UUID=c\t/mnt/y ext4 defaults 0 2 # metis\n', ['/', '/mnt/y']],
    ['', []],
  ])('fstabMountPoints(%j)', (text, want) => expect([...fstabMountPoints(text)]).toEqual(want));

  it.each([
    ['missing disk', [[A, 'ext4']] as Array<[string, string]>, `no block device with UUID ${B}`],
    ['wrong filesystem', [[A, 'ext4'], [B, 'vfat']] as Array<[string, string]>, 'not ext4'],
  ])('%s: the task fails with a clear message and fstab is left as it was', async (_n, disks, message) => {
    const root = sysroot(disks);
    const ctx = makeContext({ root });
    const before = readFileSync(join(root, 'etc/fstab'), 'utf8');
    const a = mountModule.args.parse({ mounts });
    const plan = await mountModule.check(a, ctx);
    expect(plan.status).toBe('fail');
    expect(plan.reason).toContain(message);
    expect(readFileSync(join(root, 'etc/fstab'), 'utf8')).toBe(before);
  });
});

// The live check reads the kernel's mountinfo: judged here against a real mount of a real ext4 on a
// loop device (what /dev/disk/by-uuid points to on a node), no findmnt.
describe('mountState: what is mounted at a path, from /proc/self/mountinfo', () => {
  it('names the disk of the UUID as mounted, with its type; another disk or no mount is not', async () => {
    const { mountState } = await import('../../../src/bootstrap/modules/mount.js');
    const root = sysroot([[A, 'ext4']]);
    const img = join(root, 'disks', `${A}.img`);
    const loop = execFileSync('losetup', ['-f', '--show', img], { encoding: 'utf8' }).trim();
    const mnt = join(root, 'mnt with space');
    mkdirSync(mnt);
    cleanups.unshift(() => {
      execFileSync('umount', [mnt], { stdio: 'ignore' });
      execFileSync('losetup', ['-d', loop]);
    });
    execFileSync('mount', [loop, mnt]);
    const ctx = makeContext({ root });
    // udev's link points at the block device.
    execFileSync('ln', ['-sfn', loop, join(root, 'dev/disk/by-uuid', A)]);
    expect(await mountState(ctx, { uuid: A, path: mnt, fstype: 'ext4', options: [] } as never)).toEqual({ fromUuid: true, fstype: 'ext4' });
    // A UUID whose link is another device: mounted, but not from that disk.
    symlinkSync('/dev/null', join(root, 'dev/disk/by-uuid', B));
    expect(await mountState(ctx, { uuid: B, path: mnt, fstype: 'ext4', options: [] } as never)).toEqual({ fromUuid: false, fstype: 'ext4' });
    // Nothing mounted at the path.
    expect(await mountState(ctx, { uuid: A, path: join(root, 'disks'), fstype: 'ext4', options: [] } as never)).toEqual({ fromUuid: false, fstype: null });
  });
});
