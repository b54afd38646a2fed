import { promisify } from 'node:util';
import { interact } from 'balena-image-fs';
import { MetisError } from '../../lib/errors.js';
import { probeFilesystem, readPartitionTable, type Partition } from '../partition/table.js';

/**
 * The boot partition is the first FAT partition (what Raspberry Pi firmware reads). Files inside
 * it are written with balena-image-fs (fatfs underneath) — the image is never mounted.
 */
export async function findBootPartition(target: string): Promise<Partition> {
  const table = await readPartitionTable(target);
  for (const p of table.partitions) {
    const fs = await probeFilesystem(target, p.offset);
    if (fs === 'fat16' || fs === 'fat32' || fs === 'fat12') return p;
  }
  throw new MetisError('E_NO_BOOT_PARTITION', `${target}: no FAT boot partition found (${table.kind}, ${table.partitions.length} partitions)`);
}

type FatFs = typeof import('fs');

async function mkdirs(fs: FatFs, dir: string): Promise<void> {
  let cur = '';
  for (const part of dir.split('/').filter(Boolean)) {
    cur += `/${part}`;
    try {
      await promisify(fs.mkdir)(cur);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

export async function writeBootFile(target: string, path: string, data: Buffer): Promise<void> {
  const p = await findBootPartition(target);
  const abs = `/${path.replace(/^\/+/, '')}`;
  await interact(target, p.index, async (fs) => {
    await mkdirs(fs, abs.slice(0, abs.lastIndexOf('/')));
    // Truncate first so a shorter manifest leaves no tail of the old one in the file.
    await promisify(fs.writeFile)(abs, data);
  });
}

export async function readBootFile(target: string, path: string): Promise<Buffer | null> {
  const p = await findBootPartition(target);
  const abs = `/${path.replace(/^\/+/, '')}`;
  return interact(target, p.index, async (fs) => {
    try {
      return (await promisify(fs.readFile)(abs)) as Buffer;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  });
}
