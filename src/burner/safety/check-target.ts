import { constants } from 'node:fs';
import { access, open, realpath, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { baseDisks, devno, diskOf, loopBackings, sysBlock } from './block-sysfs.js';
import { TargetRefusedError } from './errors.js';
import { mounts, systemDevnos } from './system-devices.js';

export interface TargetInfo {
  path: string;
  kind: 'block' | 'file';
  /** Kernel disk name for a block device ("loop3", "sda"). */
  disk?: string;
  /** Capacity of a block device; for an image file, its current size. */
  sizeBytes: number;
  /** The burner contract's names for the same facts (burner A reads these). */
  size: number;
  isBlockDevice: boolean;
}

export interface CheckTargetOptions {
  /** The source image; absent for the early check made before the image is fetched. */
  image?: string;
  imageSize?: number;
  /** What the operator asked for: --device must name an existing whole disk, --to a file. */
  want?: 'device' | 'file';
}

/**
 * Decides whether `target` may be overwritten with `image`, reading only: refuses the disk that
 * holds the running system, a disk with anything mounted, a disk that holds the source image, one
 * too small, and one that is read-only. Each reason throws its own TargetRefusedError.
 */
export async function checkTarget(target: string, opts: CheckTargetOptions): Promise<TargetInfo> {
  const [imageStat, st] = await Promise.all([opts.image ? stat(opts.image) : null, stat(target).catch(() => null)]);
  if (!st && opts.want === 'device') throw new TargetRefusedError('E_TARGET_MISSING', target, 'the device does not exist (see metis devices)');
  if (!st) return checkNewFile(target);
  if (st.isFile()) {
    if (imageStat && st.dev === imageStat.dev && st.ino === imageStat.ino) {
      throw new TargetRefusedError('E_TARGET_CONTAINS_SOURCE', target, `it is the source image ${opts.image}`);
    }
    await access(target, constants.W_OK).catch(() => {
      throw new TargetRefusedError('E_TARGET_READ_ONLY', target, 'the file is not writable');
    });
    return { path: target, kind: 'file', sizeBytes: st.size, size: st.size, isBlockDevice: false };
  }
  if (!st.isBlockDevice()) throw new TargetRefusedError('E_TARGET_NOT_A_DISK', target, 'neither a block device nor a regular file');

  const disk = await diskOf(devno(st.rdev));
  if (!disk) throw new TargetRefusedError('E_TARGET_MISSING', target, `no such block device in /sys (${devno(st.rdev)})`);
  const info = await sysBlock(disk);
  if (info.devnos[0] !== devno(st.rdev)) {
    throw new TargetRefusedError('E_TARGET_NOT_A_DISK', target, `it is a partition of ${disk}; give the whole disk`);
  }
  const all = await mounts();
  const system = await systemDevnos(all);
  // The disks beneath every mounted and system device, looked up at once (each is a few sysfs
  // reads; one by one, 20-odd mounts cost a burn ~5 ms before its first write, and it checks twice).
  const under = new Map<string, Promise<string[]>>();
  for (const dev of [...system.keys(), ...all.map((m) => m.dev)]) if (!under.has(dev)) under.set(dev, baseDisks(dev));
  const disksUnder = (dev: string) => under.get(dev)!;
  await Promise.all(under.values());
  for (const [dev, what] of system) {
    if ((await disksUnder(dev)).includes(disk)) throw new TargetRefusedError('E_TARGET_SYSTEM_DISK', target, `it holds this system's ${what}`);
  }

  if (opts.image && imageStat) {
    const imageHome = await baseDisks(devno(imageStat.dev));
    const imageReal = await realpath(opts.image);
    if (imageHome.includes(disk) || (info.backingFile !== null && (await sameFile(info.backingFile, imageReal)))) {
      throw new TargetRefusedError('E_TARGET_CONTAINS_SOURCE', target, `it holds the source image ${opts.image}`);
    }
  }

  const mounted: string[] = [];
  // Directly, or through a device stacked on it (LVM, dm-crypt, md).
  for (const m of all) if (info.devnos.includes(m.dev) || (await disksUnder(m.dev)).includes(disk)) mounted.push(m.mountPoint);
  // A loop device shares its backing file with any other loop over the same file (losetup -o):
  // a mount there is a mount of this disk's bytes too.
  if (info.backingFile) {
    for (const other of await loopBackings()) {
      if (other.disk === disk || !(await sameFile(other.file, info.backingFile))) continue;
      const o = await sysBlock(other.disk);
      mounted.push(...all.filter((m) => o.devnos.includes(m.dev)).map((m) => `${m.mountPoint} (via ${other.disk})`));
    }
  }
  if (mounted.length) throw new TargetRefusedError('E_TARGET_MOUNTED', target, `mounted at ${mounted.join(', ')}; unmount first`);

  if (info.readOnly) throw new TargetRefusedError('E_TARGET_READ_ONLY', target, 'the device is read-only');
  await access(target, constants.R_OK | constants.W_OK).catch(() => {
    throw new TargetRefusedError('E_TARGET_NO_ACCESS', target, `writing it needs root (or write access to ${target})`);
  });
  if (opts.imageSize !== undefined && info.sizeBytes < opts.imageSize) {
    throw new TargetRefusedError('E_TARGET_TOO_SMALL', target, `${info.sizeBytes} bytes, the image needs ${opts.imageSize}`);
  }

  // The kernel's own word: O_EXCL on a block device fails with EBUSY while anything holds it
  // (a mount we could not see, device-mapper, another flasher). Opened read-only: nothing written.
  const fh = await open(target, constants.O_RDONLY | constants.O_EXCL).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'EBUSY') throw new TargetRefusedError('E_TARGET_MOUNTED', target, 'the device is in use (O_EXCL open failed: EBUSY)');
    if (e.code === 'EACCES' || e.code === 'EPERM') throw new TargetRefusedError('E_TARGET_NO_ACCESS', target, `writing it needs root (or write access to ${target})`);
    throw e;
  });
  await fh.close();
  return { path: target, kind: 'block', disk, sizeBytes: info.sizeBytes, size: info.sizeBytes, isBlockDevice: true };
}

async function checkNewFile(target: string): Promise<TargetInfo> {
  await access(dirname(target), constants.W_OK).catch(() => {
    throw new TargetRefusedError('E_TARGET_MISSING', target, `its directory ${dirname(target)} does not exist or is not writable`);
  });
  return { path: target, kind: 'file', sizeBytes: 0, size: 0, isBlockDevice: false };
}

async function sameFile(a: string, b: string): Promise<boolean> {
  // The kernel shows a deleted backing file as "PATH (deleted)": that is not our image.
  const [sa, sb] = await Promise.all([stat(a).catch(() => null), stat(b).catch(() => null)]);
  return !!sa && !!sb && sa.dev === sb.dev && sa.ino === sb.ino;
}
