import { readdir, readFile, realpath } from 'node:fs/promises';
import { basename, join } from 'node:path';

/** "MAJ:MIN" of a device number as the kernel prints it in sysfs and mountinfo. */
export function devno(rdev: number): string {
  // Linux's new_encode_dev layout, which is what stat() reports for st_rdev / st_dev.
  const major = ((rdev >> 8) & 0xfff) | Math.floor(rdev / 2 ** 32) & ~0xfff;
  const minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
  return `${major}:${minor}`;
}

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

/** Every loop device with its backing file (for "same file, other loop" checks). */
export async function loopBackings(): Promise<Array<{ disk: string; file: string }>> {
  const out: Array<{ disk: string; file: string }> = [];
  for (const e of await readdir('/sys/class/block').catch(() => [] as string[])) {
    if (!e.startsWith('loop')) continue;
    const file = await read(`/sys/class/block/${e}/loop/backing_file`);
    if (file) out.push({ disk: e, file });
  }
  return out;
}
