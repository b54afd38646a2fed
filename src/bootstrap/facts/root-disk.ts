import { promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import { parseMountinfo } from '../../core/mountinfo.js';

/**
 * Where the running root filesystem lives, read from /proc and /sys (no processes): its partition,
 * the disk holding it, the partitions after it, and the filesystem's own size from its superblock.
 * Sizes are bytes; /sys counts 512-byte sectors whatever the device's sector size.
 */
export interface RootDisk {
  /** /dev/mmcblk0p2 */
  partDev: string;
  /** /dev/mmcblk0 */
  diskDev: string;
  partNumber: number;
  partStart: number;
  partSize: number;
  diskSize: number;
  /** Another partition starts after the root one: it cannot grow. */
  followedBy: string | null;
  table: 'gpt' | 'mbr';
  /** ext2/3/4 size from the superblock; null when the root is another filesystem. */
  fsSize: number | null;
}

const SECTOR = 512;
const readNum = async (p: string) => Number((await fsp.readFile(p, 'utf8')).trim());

/** major:minor of the filesystem mounted at `mount`, from mountinfo (field 3). */
export function mountDevice(mountinfo: string, mount: string): string | null {
  return parseMountinfo(mountinfo).find((m) => m.mountPoint === mount)?.dev ?? null;
}

/** Total bytes of an ext2/3/4 filesystem from its superblock (1024 bytes into the partition). */
export function extSize(sb: Buffer): number | null {
  if (sb.length < 0x158 || sb.readUInt16LE(0x38) !== 0xef53) return null;
  const blockSize = 1024 << sb.readUInt32LE(0x18);
  const is64 = (sb.readUInt32LE(0x60) & 0x80) !== 0;
  const blocks = sb.readUInt32LE(0x04) + (is64 ? sb.readUInt32LE(0x150) * 2 ** 32 : 0);
  return blocks * blockSize;
}

async function readAt(dev: string, offset: number, length: number): Promise<Buffer> {
  const fh = await fsp.open(dev, 'r');
  try {
    const b = Buffer.alloc(length);
    await fh.read(b, 0, length, offset);
    return b;
  } finally {
    await fh.close();
  }
}

/** The root's disk facts; null when the root is not on a partition of a disk (e.g. overlay, nfs, a whole disk). */
export async function rootDisk(mount = '/', sys = '/sys', proc = '/proc', dev = '/dev'): Promise<RootDisk | null> {
  const majmin = mountDevice(await fsp.readFile(join(proc, 'self/mountinfo'), 'utf8'), mount);
  if (!majmin) return null;
  const partSys = await fsp.realpath(join(sys, 'dev/block', majmin)).catch(() => null);
  if (!partSys || !(await fsp.access(join(partSys, 'partition')).then(() => true, () => false))) return null;
  const diskSys = join(partSys, '..');
  const start = await readNum(join(partSys, 'start'));
  const siblings = (await fsp.readdir(diskSys)).filter((n) => n !== basename(partSys));
  let followedBy: string | null = null;
  for (const n of siblings) {
    const s = await readNum(join(diskSys, n, 'start')).catch(() => null);
    if (s !== null && s > start && (await fsp.access(join(diskSys, n, 'partition')).then(() => true, () => false))) followedBy = `${dev}/${n}`;
  }
  const partDev = `${dev}/${basename(partSys)}`;
  const diskDev = `${dev}/${basename(diskSys)}`;
  const gpt = (await readAt(diskDev, SECTOR, 8)).toString('latin1') === 'EFI PART';
  return {
    partDev,
    diskDev,
    partNumber: await readNum(join(partSys, 'partition')),
    partStart: start * SECTOR,
    partSize: (await readNum(join(partSys, 'size'))) * SECTOR,
    diskSize: (await readNum(join(diskSys, 'size'))) * SECTOR,
    followedBy,
    table: gpt ? 'gpt' : 'mbr',
    fsSize: extSize(await readAt(partDev, 1024, 1024)),
  };
}
