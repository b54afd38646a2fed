import { open, type FileHandle } from 'node:fs/promises';
import { Disk, FileDisk, type ReadResult, type WriteResult } from 'file-disk';
import { getPartitions } from 'partitioninfo';
import { MetisError } from '../lib/errors.js';

export interface Partition {
  /** 1-based, as the kernel and balena-image-fs number them. */
  index: number;
  offset: number;
  size: number;
  /** MBR type byte as hex ("0c") or GPT type GUID (lowercase). */
  type: string;
}

export interface PartitionTable {
  kind: 'mbr' | 'gpt';
  partitions: Partition[];
}

/**
 * MBR and GPT, parsed by partitioninfo (the library balena's flashers use). `disk` is a path, a
 * handle already open on it, or a reader of `size` bytes (`name` then names it in errors): a block
 * device drops its cached pages at each last close, so a caller that reads more of the disk passes
 * the one handle or reader it reads with.
 */
export async function readPartitionTable(disk: string | FileHandle | SizedReader, name = typeof disk === 'string' ? disk : 'the disk'): Promise<PartitionTable> {
  let result;
  try {
    const from = typeof disk === 'string' ? disk : 'reader' in disk ? new ReaderDisk(disk) : new FileDisk(disk, true);
    result = await getPartitions(from, { includeExtended: false, getLogical: true });
  } catch (e) {
    throw new MetisError('E_NO_PARTITION_TABLE', `${name}: no MBR or GPT partition table found`, { cause: e });
  }
  return {
    kind: result.type,
    partitions: result.partitions
      .filter((p) => p.size > 0)
      .map((p, i) => ({
        index: ('index' in p && typeof p.index === 'number' ? p.index : i + 1),
        offset: p.offset,
        size: p.size,
        type: typeof p.type === 'number' ? p.type.toString(16).padStart(2, '0') : String(p.type).toLowerCase(),
      })),
  };
}

/** Positional reads of a disk whose size is known (an O_DIRECT reader of a card, say). */
export interface SizedReader {
  reader: ByteReader;
  size: number;
}

/** A read-only file-disk Disk over a SizedReader, for partitioninfo. */
class ReaderDisk extends Disk {
  constructor(private readonly r: SizedReader) {
    super(true);
  }
  protected async _getCapacity(): Promise<number> {
    return this.r.size;
  }
  protected async _read(buffer: Buffer, bufferOffset: number, length: number, fileOffset: number): Promise<ReadResult> {
    const n = Math.max(0, Math.min(length, this.r.size - fileOffset));
    await this.r.reader.read(buffer, bufferOffset, n, fileOffset);
    return { bytesRead: n, buffer };
  }
  protected async _write(): Promise<WriteResult> {
    throw new MetisError('E_READ_ONLY', 'a partition table reader does not write');
  }
  protected async _flush(): Promise<void> {}
}

export type FsKind = 'fat12' | 'fat16' | 'fat32' | 'ext' | 'unknown';

/** Where a probe reads: a device or image path, or anything with positional reads (a card not yet whole). */
export interface ByteReader {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<unknown>;
}

/** Identifies a partition's filesystem from its own superblock, not from the table's type byte. */
export async function probeFilesystem(disk: string | ByteReader, offset: number): Promise<FsKind> {
  if (typeof disk !== 'string') return probeWith(disk, offset);
  const fh = await open(disk, 'r');
  try {
    return await probeWith(fh, offset);
  } finally {
    await fh.close();
  }
}

async function probeWith(r: ByteReader, offset: number): Promise<FsKind> {
  const boot = Buffer.alloc(512);
  await r.read(boot, 0, 512, offset);
  if (boot.readUInt16LE(510) === 0xaa55 && boot.readUInt16LE(11) >= 512) {
    if (boot.toString('ascii', 82, 87) === 'FAT32') return 'fat32';
    const t = boot.toString('ascii', 54, 59);
    if (t === 'FAT16') return 'fat16';
    if (t === 'FAT12') return 'fat12';
  }
  const sb = Buffer.alloc(2);
  await r.read(sb, 0, 2, offset + 1024 + 0x38);
  if (sb.readUInt16LE(0) === 0xef53) return 'ext';
  return 'unknown';
}
