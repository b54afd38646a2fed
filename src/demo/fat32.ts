import type { FileHandle } from 'node:fs/promises';

const SECTOR = 512;
const RESERVED = 32;
const FATS = 2;
/** FAT32 is only FAT32 (for fsck.fat, firmware, Windows) with at least this many clusters. */
export const FAT32_MIN_CLUSTERS = 65525;

export interface Fat32Geometry {
  totalSectors: number;
  fatSectors: number;
  clusters: number;
  dataStart: number;
}

/** One sector per cluster; FAT size from the Microsoft FAT spec's formula for FAT32. */
export function fat32Geometry(totalSectors: number): Fat32Geometry {
  const fatSectors = Math.ceil((totalSectors - RESERVED) / ((256 * 1 + FATS) / 2));
  const dataStart = RESERVED + FATS * fatSectors;
  const clusters = totalSectors - dataStart;
  if (clusters < FAT32_MIN_CLUSTERS) {
    throw new RangeError(`a FAT32 volume needs at least ${FAT32_MIN_CLUSTERS} clusters; ${totalSectors} sectors give ${clusters} (use ≥ 33 MiB)`);
  }
  return { totalSectors, fatSectors, clusters, dataStart };
}

function bootSector(g: Fat32Geometry, hiddenSectors: number, volumeId: number, label: string): Buffer {
  const b = Buffer.alloc(SECTOR);
  b.set([0xeb, 0x58, 0x90], 0);
  b.write('METIS   ', 3, 'ascii');
  b.writeUInt16LE(SECTOR, 11);
  b.writeUInt8(1, 13); // sectors per cluster
  b.writeUInt16LE(RESERVED, 14);
  b.writeUInt8(FATS, 16);
  b.writeUInt8(0xf8, 21); // media: fixed disk
  b.writeUInt16LE(32, 24); // sectors per track (CHS, informational)
  b.writeUInt16LE(64, 26); // heads
  b.writeUInt32LE(hiddenSectors, 28);
  b.writeUInt32LE(g.totalSectors, 32);
  b.writeUInt32LE(g.fatSectors, 36);
  b.writeUInt32LE(2, 44); // root directory cluster
  b.writeUInt16LE(1, 48); // FSInfo sector
  b.writeUInt16LE(6, 50); // backup boot sector
  b.writeUInt8(0x80, 64);
  b.writeUInt8(0x29, 66); // extended boot signature: the next three fields are valid
  b.writeUInt32LE(volumeId >>> 0, 67);
  b.write(label.padEnd(11, ' ').slice(0, 11), 71, 'ascii');
  b.write('FAT32   ', 82, 'ascii');
  b.set([0x55, 0xaa], 510);
  return b;
}

function fsInfo(freeClusters: number): Buffer {
  const b = Buffer.alloc(SECTOR);
  b.writeUInt32LE(0x41615252, 0);
  b.writeUInt32LE(0x61417272, 484);
  b.writeUInt32LE(freeClusters, 488);
  b.writeUInt32LE(3, 492); // next free cluster hint
  b.writeUInt32LE(0xaa550000, 508);
  return b;
}

/**
 * Formats `sectors` sectors at byte `offset` of an open image as an empty FAT32 volume with a
 * volume label — what mkfs.vfat -F 32 -s 1 does, for machines without dosfstools. Writes every
 * metadata sector explicitly (reserved area, both FATs, the root cluster), so stale bytes in a
 * reused file can't leak into the new volume.
 */
export async function formatFat32(fh: FileHandle, offset: number, sectors: number, opts: { label: string; volumeId: number; hiddenSectors: number }): Promise<Fat32Geometry> {
  const g = fat32Geometry(sectors);
  const reserved = Buffer.alloc(RESERVED * SECTOR);
  const boot = bootSector(g, opts.hiddenSectors, opts.volumeId, opts.label);
  const info = fsInfo(g.clusters - 1);
  boot.copy(reserved, 0);
  info.copy(reserved, SECTOR);
  boot.copy(reserved, 6 * SECTOR);
  info.copy(reserved, 7 * SECTOR);
  await fh.write(reserved, 0, reserved.length, offset);

  const fat = Buffer.alloc(g.fatSectors * SECTOR);
  fat.writeUInt32LE(0x0ffffff8, 0); // media descriptor entry
  fat.writeUInt32LE(0x0fffffff, 4); // clean-shutdown and no-error bits set
  fat.writeUInt32LE(0x0fffffff, 8); // root directory: one cluster, end of chain
  for (let i = 0; i < FATS; i++) await fh.write(fat, 0, fat.length, offset + (RESERVED + i * g.fatSectors) * SECTOR);

  const root = Buffer.alloc(SECTOR);
  root.write(opts.label.padEnd(11, ' ').slice(0, 11), 0, 'ascii');
  root.writeUInt8(0x08, 11); // volume label entry
  await fh.write(root, 0, root.length, offset + g.dataStart * SECTOR);
  return g;
}
