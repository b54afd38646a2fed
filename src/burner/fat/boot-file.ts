import { open } from 'node:fs/promises';
import { MetisError } from '../../lib/errors.js';
import { probeFilesystem, readPartitionTable, type Partition } from '../../core/partition-table.js';
import { FatVolume } from './volume.js';

/**
 * The boot partition is the first FAT partition (what Raspberry Pi firmware reads). Files in it
 * are edited in place by FatVolume; nothing is mounted (the host kernel need not know FAT).
 */
export async function findBootPartition(target: string): Promise<Partition> {
  const table = await readPartitionTable(target);
  for (const p of table.partitions) {
    const fs = await probeFilesystem(target, p.offset);
    if (fs === 'fat16' || fs === 'fat32') return p;
  }
  throw new MetisError('E_NO_BOOT_PARTITION', `${target}: no FAT16/FAT32 boot partition found (${table.kind}, ${table.partitions.length} partitions)`);
}

export async function writeBootFile(target: string, path: string, data: Buffer): Promise<void> {
  const p = await findBootPartition(target);
  const fh = await open(target, 'r+');
  try {
    await (await FatVolume.open(fh, p.offset)).writeFile(path, data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function readBootFile(target: string, path: string): Promise<Buffer | null> {
  const p = await findBootPartition(target);
  const fh = await open(target, 'r');
  try {
    return await (await FatVolume.open(fh, p.offset)).readFile(path);
  } finally {
    await fh.close();
  }
}
