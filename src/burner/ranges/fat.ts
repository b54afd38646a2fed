import type { FileHandle } from 'node:fs/promises';
import type { ChunkMap } from './chunk-map.js';

/** Marks a FAT12/16/32 partition's metadata and every allocated cluster (non-zero FAT entry). */
export async function markFat(fh: FileHandle, offset: number, size: number, map: ChunkMap): Promise<void> {
  const bpb = Buffer.alloc(512);
  await fh.read(bpb, 0, 512, offset);
  const bytesPerSector = bpb.readUInt16LE(11);
  const sectorsPerCluster = bpb.readUInt8(13);
  const reserved = bpb.readUInt16LE(14);
  const numFats = bpb.readUInt8(16);
  const rootEntries = bpb.readUInt16LE(17);
  const totalSectors = bpb.readUInt16LE(19) || bpb.readUInt32LE(32);
  const fatSectors = bpb.readUInt16LE(22) || bpb.readUInt32LE(36);
  const rootDirSectors = Math.ceil((rootEntries * 32) / bytesPerSector);
  const dataStart = reserved + numFats * fatSectors + rootDirSectors;
  const clusters = Math.floor((totalSectors - dataStart) / sectorsPerCluster);
  const fat32 = rootEntries === 0 && bpb.readUInt16LE(22) === 0;
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
  void size;
}
