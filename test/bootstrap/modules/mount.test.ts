import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mountModule, fstabWith, MARK } from '../../../src/bootstrap/modules/mount.js';
import { convergeLoop, makeContext, tempRoot } from '../../helpers/context.js';

const U1 = '3a1f0c2e-5b7d-4e8f-9a10-b2c3d4e5f601';
const U2 = '7c9e2d41-0a3b-4c5d-8e6f-a1b2c3d4e5f6';
const FOREIGN = 'UUID=1111-2222\t/boot/firmware\tvfat\tdefaults\t0\t2\nproc /proc proc defaults 0 0\n';
let root: string;
let cleanup: () => void;

/** A real small ext4 filesystem with a fixed UUID, linked where udev would put it. */
function disk(uuid: string, fstype = 'ext4'): void {
  const img = join(root, `img-${uuid}`);
  execFileSync('truncate', ['-s', '4M', img]);
  if (fstype === 'ext4') execFileSync('mkfs.ext4', ['-q', '-F', '-U', uuid, img]);
  mkdirSync(join(root, 'dev/disk/by-uuid'), { recursive: true });
  symlinkSync(img, join(root, 'dev/disk/by-uuid', uuid));
}
beforeEach(() => {
  ({ root, cleanup } = tempRoot('metis-cap-mount-'));
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/fstab'), FOREIGN);
});
afterEach(() => cleanup());

const mounts = [
  { uuid: U1, path: '/mnt/astreae', fstype: 'ext4', options: ['defaults', 'noatime'] },
  { uuid: U2, path: '/mnt/asteria', fstype: 'ext4', deviceTimeoutSec: 30 },
];

describe('mount module', () => {
  it('adds UUID lines with nofail and device timeout, creates mount points, keeps foreign lines', async () => {
    disk(U1);
    disk(U2);
    const ctx = makeContext({ root });
    await convergeLoop(mountModule, { mounts }, ctx);
    const fstab = readFileSync(join(root, 'etc/fstab'), 'utf8');
    expect(fstab).toBe(
      FOREIGN +
        `UUID=${U1}\t/mnt/astreae\text4\tdefaults,noatime,nofail,x-systemd.device-timeout=10s\t0\t2\t${MARK}\n` +
        `UUID=${U2}\t/mnt/asteria\text4\tdefaults,nofail,x-systemd.device-timeout=30s\t0\t2\t${MARK}\n`,
    );
    expect(existsSync(join(root, 'mnt/astreae'))).toBe(true);
    // a changed option replaces the line in place, never duplicates it
    await convergeLoop(mountModule, { mounts: [{ ...mounts[0], options: ['defaults'] }, mounts[1]] }, ctx);
    const after = readFileSync(join(root, 'etc/fstab'), 'utf8');
    expect(after.split('\n').filter((l) => l.includes('/mnt/astreae'))).toEqual([`UUID=${U1}\t/mnt/astreae\text4\tdefaults,nofail,x-systemd.device-timeout=10s\t0\t2\t${MARK}`]);
    expect(after.startsWith(FOREIGN)).toBe(true);
  });

  it.each([
    ['missing device', () => undefined, /no block device with UUID 3a1f0c2e/],
    ['wrong fstype', () => disk(U1, 'none'), /holds no filesystem, manifest says ext4/],
  ])('%s: task fails and fstab is left as it was', async (_n, setup, msg) => {
    setup();
    const ctx = makeContext({ root });
    const a = mountModule.args.parse({ mounts: [mounts[0]] });
    const r = await mountModule.check(a, ctx);
    expect(r.status).toBe('change');
    expect(r.reason).toMatch(msg);
    const res = await mountModule.apply(a, ctx, r);
    expect(res?.failed).toMatch(msg);
    expect(readFileSync(join(root, 'etc/fstab'), 'utf8')).toBe(FOREIGN);
    expect(existsSync(join(root, 'mnt/astreae'))).toBe(false);
  });

  it('drops Metis lines for mounts no longer in the manifest, never foreign ones', () => {
    const cur = `${FOREIGN}UUID=${U2}\t/mnt/old\text4\tdefaults\t0\t2\t${MARK}\n`;
    expect(fstabWith(cur, [])).toBe(FOREIGN);
  });

  it('refuses a malformed UUID', () => {
    expect(mountModule.args.safeParse({ mounts: [{ ...mounts[0], uuid: 'XYZ' }] }).success).toBe(false);
  });
});
