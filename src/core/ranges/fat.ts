import type { FileHandle } from 'node:fs/promises';
import { parseBpb } from '../fat-bpb.js';
import type { ChunkMap } from './chunk-map.js';

/** Marks a FAT12/16/32 partition's metadata and every allocated cluster (non-zero FAT entry). */
export async function markFat(fh: FileHandle, offset: number, size: number, map: ChunkMap): Promise<void> {
  const bpb = Buffer.alloc(512);
  await fh.read(bpb, 0, 512, offset);
  const { bytesPerSector, sectorsPerCluster, reserved, fatSectors, dataStart, clusters, fat32, plausible } = parseBpb(bpb);
  // A geometry no FAT driver accepts is not ours to interpret: the partition is written whole.
  if (!plausible) return map.mark(offset, size);
  const entryBits = fat32 ? 32 : clusters < 4085 ? 12 : 16;

  // Reserved sectors, every FAT copy and the fixed root directory.
  map.mark(offset, dataStart * bytesPerSector);

  const fat = Buffer.alloc(fatSectors * bytesPerSector);
  await fh.read(fat, 0, fat.length, offset + reserved * bytesPerSector);
  const clusterBytes = sectorsPerCluster * bytesPerSector;
  for (let c = 2; c < clusters + 2; c++) {
    let entry: number;
    if (entryBits === 32) entry = fat.readUInt32LE(c * 4) & 0x0fffffff;
    else if (entryBits === 16) entry = fat.readUInt16LE(c * 2);
    else {
      const v = fat.readUInt16LE(Math.floor((c * 3) / 2));
      entry = c & 1 ? v >> 4 : v & 0xfff;
    }
    if (entry !== 0) map.mark(offset + dataStart * bytesPerSector + (c - 2) * clusterBytes, clusterBytes);
  }
}
