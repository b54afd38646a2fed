import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { devno } from '../../core/mountinfo.js';
import { basename, dirname, join } from 'node:path';

export { devno };

// sysfs and procfs are the kernel's memory, never a disk: read synchronously. A burn checks its
// target twice before its first write, and a chain of ~30 thread-pool round trips, each waiting
// for the main thread (busy parsing the inventory), cost it ~10 ms; these reads take microseconds.
const read = (p: string): string | null => {
  try {
    return readFileSync(p, 'utf8').trim();
  } catch {
    return null;
  }
};
const realpathOrNull = (p: string): string | null => {
  try {
    // The kernel's realpath(3) in one call (node's JS realpathSync lstat()s every component).
    return realpathSync.native(p);
  } catch {
    return null;
  }
};
const list = (p: string): string[] => {
  try {
    return readdirSync(p);
  } catch {
    return [];
  }
};

export interface SysBlock {
  /** Kernel name of the whole disk, e.g. "loop3", "sda", "mmcblk0". */
  disk: string;
  /** MAJ:MIN of the disk and of each of its partitions. */
  devnos: string[];
  sizeBytes: number;
  readOnly: boolean;
  /** Backing file of a loop device, when it is one. */
  backingFile: string | null;
}

/** The whole disk a MAJ:MIN belongs to (itself, or the parent of a partition). */
export async function diskOf(dev: string): Promise<string | null> {
  const dir = realpathOrNull(`/sys/dev/block/${dev}`);
  if (!dir) return null;
  const isPart = read(join(dir, 'partition')) !== null;
  return basename(isPart ? join(dir, '..') : dir);
}

export async function sysBlock(disk: string): Promise<SysBlock> {
  const dir = `/sys/class/block/${disk}`;
  const devnos = [read(join(dir, 'dev'))!];
  for (const e of list(dir)) {
    if (e.startsWith(disk) && read(join(dir, e, 'partition')) !== null) {
      const d = read(join(dir, e, 'dev'));
      if (d) devnos.push(d);
    }
  }
  return {
    disk,
    devnos,
    sizeBytes: Number(read(join(dir, 'size'))) * 512,
    readOnly: read(join(dir, 'ro')) === '1',
    backingFile: read(join(dir, 'loop', 'backing_file')),
  };
}

/**
 * A block device's capacity in bytes, from sysfs (what `blockdev --getsize64` prints, without
 * starting a process); 0 when sysfs does not know the device.
 */
export async function deviceBytes(path: string): Promise<number> {
  const st = await stat(path);
  return Number(read(`/sys/dev/block/${devno(st.rdev)}/size`)) * 512;
}

/** Every loop device with its backing file (for "same file, other loop" checks). */
export async function loopBackings(): Promise<Array<{ disk: string; file: string }>> {
  const loops = list('/sys/class/block').filter((e) => e.startsWith('loop'));
  const files = loops.map((e) => read(`/sys/class/block/${e}/loop/backing_file`));
  return loops.flatMap((disk, i) => (files[i] ? [{ disk, file: files[i]! }] : []));
}

/**
 * The whole disks beneath a MAJ:MIN: its own disk for a disk or partition, and for device-mapper,
 * md and other stacked devices the disks under `slaves/`, recursively — so "/ on LVM on
 * nvme0n1p3" names nvme0n1. `sys` is a parameter so a test can hand in a fake sysfs tree.
 */
export async function baseDisks(dev: string, sys = '/sys'): Promise<string[]> {
  const dir = realpathOrNull(join(sys, 'dev/block', dev));
  return dir ? [...new Set(disksUnder(dir, 0))] : [];
}

function disksUnder(dir: string, depth: number): string[] {
  const slaves = list(join(dir, 'slaves'));
  // Stacks are a few levels deep at most; the bound only guards against a malformed tree.
  if (slaves.length === 0 || depth > 8) return [basename(read(join(dir, 'partition')) !== null ? dirname(dir) : dir)];
  const out: string[] = [];
  for (const s of slaves) {
    const next = realpathOrNull(join(dir, 'slaves', s));
    if (next) out.push(...disksUnder(next, depth + 1));
  }
  return out;
}
