import { open } from 'node:fs/promises';
import { MetisError } from '../../lib/errors.js';
import { type ByteReader, probeFilesystem, readPartitionTable, type Partition, type SizedReader } from '../../core/partition-table.js';
import { type BlockIo, FatVolume } from './volume.js';
import { deviceBytes } from '../safety/block-sysfs.js';
import { DirectReader } from '../write/direct-read.js';

/**
 * The boot partition is the first FAT partition (what Raspberry Pi firmware reads). Files in it
 * are edited in place by FatVolume; nothing is mounted (the host kernel need not know FAT).
 */
export async function findBootPartition(target: string): Promise<Partition> {
  const table = await readPartitionTable(target);
  return bootPartitionOf(target, table.partitions, `${table.kind}, ${table.partitions.length} partitions`);
}

/** The first FAT16/FAT32 partition of `partitions`, probed through `disk`. */
export async function bootPartitionOf(disk: string | ByteReader, partitions: Partition[], what: string, name = typeof disk === 'string' ? disk : 'the card'): Promise<Partition> {
  for (const p of partitions) {
    const fs = await probeFilesystem(disk, p.offset);
    if (fs === 'fat16' || fs === 'fat32') return p;
  }
  throw new MetisError('E_NO_BOOT_PARTITION', `${name}: no FAT16/FAT32 boot partition found (${what})`);
}

/**
 * Writes a file into the boot partition of a card that is not whole yet (its table known from the
 * image, its first MiB still in memory: see write/head-overlay.ts); no barriers, the caller syncs.
 */
export async function writeBootFileVia(io: BlockIo, partitions: Partition[], path: string, data: Buffer): Promise<void> {
  const p = await bootPartitionOf(io, partitions, `the image's ${partitions.length} partitions`);
  await (await FatVolume.open(io, p.offset)).writeFile(path, data);
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

/**
 * Reads a file from the boot partition: table, probe and file through one handle. `direct` (a
 * block device): with O_DIRECT, so every byte comes from the card and none from the page cache. A
 * buffered read would only reach the card if the writer's close had dropped the cache, and that
 * happens at the device's last close only: not while udev's probe, say, holds it open.
 */
export async function readBootFile(target: string, path: string, opts: { direct?: boolean } = {}): Promise<Buffer | null> {
  const r = opts.direct ? await DirectReader.open(target, DIRECT_PIECE, await deviceBytes(target)) : await open(target, 'r');
  try {
    const [io, disk] = r instanceof DirectReader ? directDisk(r) : [r, r];
    const table = await readPartitionTable(disk, target);
    const p = await bootPartitionOf(io, table.partitions, `${table.kind}, ${table.partitions.length} partitions`, target);
    return await (await FatVolume.openForRead(io, p.offset)).readFile(path);
  } finally {
    await r.close();
  }
}

/** A direct reader as positional reads (probe, FAT) and as a disk of known size (partition table). */
function directDisk(r: DirectReader): [ByteReader, SizedReader] {
  const io: ByteReader = { read: (b, o, n, at) => r.readInto(b, o, n, at) };
  return [io, { reader: io, size: r.size }];
}

/** The direct reader's largest read: a FAT copy's sector run or a file's cluster run is read in such pieces. */
const DIRECT_PIECE = 1024 * 1024;
