import type { FileHandle } from 'node:fs/promises';
import type { ChunkMap } from './chunk-map.js';

const INCOMPAT_64BIT = 0x80;
const RO_COMPAT_SPARSE_SUPER = 0x1;
const BG_BLOCK_UNINIT = 0x2;
const RO_COMPAT_GDT_CSUM = 0x10;
const RO_COMPAT_METADATA_CSUM = 0x400;

function isPowerOf(n: number, b: number): boolean {
  if (n < 1) return false;
  while (n % b === 0) n /= b;
  return n === 1;
}

/** Groups carrying a superblock backup under sparse_super: 0, 1 and powers of 3, 5 and 7. */
function hasSuperBackup(group: number, sparse: boolean): boolean {
  return !sparse || group <= 1 || isPowerOf(group, 3) || isPowerOf(group, 5) || isPowerOf(group, 7);
}

/**
 * Marks an ext2/3/4 filesystem's allocated blocks from its own block bitmaps. Groups whose bitmap
 * is uninitialised (BLOCK_UNINIT) hold no data: only their metadata is marked.
 */
export async function markExt(fh: FileHandle, offset: number, map: ChunkMap): Promise<void> {
  const sb = Buffer.alloc(1024);
  await fh.read(sb, 0, 1024, offset + 1024);
  const blockSize = 1024 << sb.readUInt32LE(0x18);
  const firstDataBlock = sb.readUInt32LE(0x14);
  const blocksPerGroup = sb.readUInt32LE(0x20);
  const inodesPerGroup = sb.readUInt32LE(0x28);
  const incompat = sb.readUInt32LE(0x60);
  const roCompat = sb.readUInt32LE(0x64);
  const is64 = (incompat & INCOMPAT_64BIT) !== 0;
  const blocksCount = sb.readUInt32LE(0x04) + (is64 ? sb.readUInt32LE(0x150) * 2 ** 32 : 0);
  const inodeSize = sb.readUInt16LE(0x58) || 128;
  const descSize = is64 ? sb.readUInt16LE(0xfe) || 64 : 32;
  const reservedGdt = sb.readUInt16LE(0xce);
  const groups = Math.ceil((blocksCount - firstDataBlock) / blocksPerGroup);
  const gdtBlocks = Math.ceil((groups * descSize) / blockSize);
  const sparse = (roCompat & RO_COMPAT_SPARSE_SUPER) !== 0;
  const csum = (roCompat & (RO_COMPAT_GDT_CSUM | RO_COMPAT_METADATA_CSUM)) !== 0;
  const blk = (b: number, n = 1) => map.mark(offset + b * blockSize, n * blockSize);

  // Boot block + superblock + descriptors of group 0 (always present).
  map.mark(offset, 2048);
  const gdt = Buffer.alloc(gdtBlocks * blockSize);
  await fh.read(gdt, 0, gdt.length, offset + (firstDataBlock + 1) * blockSize);
  const inodeTableBlocks = Math.ceil((inodesPerGroup * inodeSize) / blockSize);
  const bitmap = Buffer.alloc(blockSize);
  const unusedTails: Array<[number, number]> = [];

  for (let g = 0; g < groups; g++) {
    const d = g * descSize;
    const hi = (o: number) => (is64 ? gdt.readUInt32LE(d + o) * 2 ** 32 : 0);
    const blockBitmap = gdt.readUInt32LE(d + 0x0) + hi(0x20);
    const inodeBitmap = gdt.readUInt32LE(d + 0x4) + hi(0x24);
    const inodeTable = gdt.readUInt32LE(d + 0x8) + hi(0x28);
    const flags = gdt.readUInt16LE(d + 0x12);
    const groupStart = firstDataBlock + g * blocksPerGroup;
    const groupBlocks = Math.min(blocksPerGroup, blocksCount - groupStart);

    if (hasSuperBackup(g, sparse)) blk(groupStart, 1 + gdtBlocks + reservedGdt);
    blk(blockBitmap);
    blk(inodeBitmap);
    // With group checksums the kernel and e2fsck never read past bg_itable_unused, and mkfs's lazy
    // itable init leaves that tail unwritten too: only the used head of the table must reach the card.
    // (bmaptool skips it the same way, as a hole.) The bitmap of the group holding the table marks it
    // used, so the tail is taken out again once the bitmaps have been walked.
    const unused = csum ? Math.min(inodesPerGroup, gdt.readUInt16LE(d + 0x1c) + (is64 ? gdt.readUInt16LE(d + 0x32) * 65536 : 0)) : 0;
    const usedItable = Math.ceil(((inodesPerGroup - unused) * inodeSize) / blockSize);
    blk(inodeTable, usedItable);
    if (usedItable < inodeTableBlocks) unusedTails.push([inodeTable + usedItable, inodeTableBlocks - usedItable]);
    if (flags & BG_BLOCK_UNINIT) continue;

    await fh.read(bitmap, 0, blockSize, offset + blockBitmap * blockSize);
    for (let i = 0; i < groupBlocks; i++) {
      if (bitmap[i >> 3]! & (1 << (i & 7))) {
        // Extend over the run of set bits, so one mark covers a contiguous extent.
        let j = i + 1;
        while (j < groupBlocks && bitmap[j >> 3]! & (1 << (j & 7))) j++;
        blk(groupStart + i, j - i);
        i = j - 1;
      }
    }
  }
  for (const [b, n] of unusedTails) map.unmarkWhole(offset + b * blockSize, n * blockSize);
}
