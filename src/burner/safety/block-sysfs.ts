import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { devno } from '../../core/mountinfo.js';
import { basename, dirname, join } from 'node:path';

export { devno };

const read = (p: string) => readFile(p, 'utf8').then((s) => s.trim()).catch(() => null);

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
  const dir = await realpath(`/sys/dev/block/${dev}`).catch(() => null);
  if (!dir) return null;
  const isPart = (await read(join(dir, 'partition'))) !== null;
  return basename(isPart ? join(dir, '..') : dir);
}

export async function sysBlock(disk: string): Promise<SysBlock> {
  const dir = `/sys/class/block/${disk}`;
  const devnos = [(await read(join(dir, 'dev')))!];
  for (const e of await readdir(dir).catch(() => [] as string[])) {
    if (e.startsWith(disk) && (await read(join(dir, e, 'partition'))) !== null) {
      const d = await read(join(dir, e, 'dev'));
      if (d) devnos.push(d);
    }
  }
  return {
    disk,
    devnos,
    sizeBytes: Number(await read(join(dir, 'size'))) * 512,
    readOnly: (await read(join(dir, 'ro'))) === '1',
    backingFile: await read(join(dir, 'loop', 'backing_file')),
  };
}

/**
 * A block device's capacity in bytes, from sysfs (what `blockdev --getsize64` prints, without
 * starting a process); 0 when sysfs does not know the device.
 */
export async function deviceBytes(path: string): Promise<number> {
  const st = await stat(path);
  return Number(await read(`/sys/dev/block/${devno(st.rdev)}/size`)) * 512;
}

/** Every loop device with its backing file (for "same file, other loop" checks). */
export async function loopBackings(): Promise<Array<{ disk: string; file: string }>> {
  const loops = (await readdir('/sys/class/block').catch(() => [] as string[])).filter((e) => e.startsWith('loop'));
  const files = await Promise.all(loops.map((e) => read(`/sys/class/block/${e}/loop/backing_file`)));
  return loops.flatMap((disk, i) => (files[i] ? [{ disk, file: files[i]! }] : []));
}

/**
 * The whole disks beneath a MAJ:MIN: its own disk for a disk or partition, and for device-mapper,
 * md and other stacked devices the disks under `slaves/`, recursively — so "/ on LVM on
 * nvme0n1p3" names nvme0n1. `sys` is a parameter so a test can hand in a fake sysfs tree.
 */
export async function baseDisks(dev: string, sys = '/sys'): Promise<string[]> {
  const dir = await realpath(join(sys, 'dev/block', dev)).catch(() => null);
  return dir ? [...new Set(await disksUnder(dir, 0))] : [];
}

async function disksUnder(dir: string, depth: number): Promise<string[]> {
  const slaves = await readdir(join(dir, 'slaves')).catch(() => [] as string[]);
  // Stacks are a few levels deep at most; the bound only guards against a malformed tree.
  if (slaves.length === 0 || depth > 8) return [basename((await read(join(dir, 'partition'))) !== null ? dirname(dir) : dir)];
  const out: string[] = [];
  for (const s of slaves) out.push(...(await disksUnder(await realpath(join(dir, 'slaves', s)), depth + 1)));
  return out;
}
