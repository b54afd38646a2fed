import { open } from 'node:fs/promises';

/**
 * fatfs (under balena-image-fs) leaves three defects that `fsck.fat -n` reports after a write:
 * it updates only the first FAT, it points a root subdirectory's ".." at the root's cluster
 * instead of 0, and it leaves the FAT32 FSInfo free count stale. This repairs exactly those,
 * after fatfs is done, so the card's filesystem is clean.
 */
export async function repairAfterFatfs(target: string, partOffset: number): Promise<void> {
  const fh = await open(target, 'r+');
  try {
    const bpb = Buffer.alloc(512);
    await fh.read(bpb, 0, 512, partOffset);
    const bps = bpb.readUInt16LE(11);
    const spc = bpb.readUInt8(13);
    const reserved = bpb.readUInt16LE(14);
    const numFats = bpb.readUInt8(16);
    const rootEntries = bpb.readUInt16LE(17);
    const fatSectors = bpb.readUInt16LE(22) || bpb.readUInt32LE(36);
    const totalSectors = bpb.readUInt16LE(19) || bpb.readUInt32LE(32);
    const fat32 = rootEntries === 0 && bpb.readUInt16LE(22) === 0;
    const rootDirSectors = Math.ceil((rootEntries * 32) / bps);
    const dataStart = partOffset + (reserved + numFats * fatSectors + rootDirSectors) * bps;
    const clusterBytes = spc * bps;
    const clusters = Math.floor((totalSectors - reserved - numFats * fatSectors - rootDirSectors) / spc);

    const fat = Buffer.alloc(fatSectors * bps);
    await fh.read(fat, 0, fat.length, partOffset + reserved * bps);
    for (let i = 1; i < numFats; i++) await fh.write(fat, 0, fat.length, partOffset + (reserved + i * fatSectors) * bps);

    const entry = (c: number) => (fat32 ? fat.readUInt32LE(c * 4) & 0x0fffffff : fat.readUInt16LE(c * 2));
    const eoc = fat32 ? 0x0ffffff8 : 0xfff8;
    const rootCluster = fat32 ? bpb.readUInt32LE(44) : 0;

    // The root directory's entries: fixed area on FAT16, a cluster chain on FAT32.
    const rootRegions: number[] = [];
    if (fat32) {
      for (let c = rootCluster, n = 0; c >= 2 && c < eoc && n < clusters; c = entry(c), n++) rootRegions.push(dataStart + (c - 2) * clusterBytes);
    }
    const rootBufs = fat32
      ? await Promise.all(rootRegions.map(async (at) => ({ at, buf: await readAt(fh, at, clusterBytes) })))
      : [{ at: partOffset + (reserved + numFats * fatSectors) * bps, buf: await readAt(fh, partOffset + (reserved + numFats * fatSectors) * bps, rootDirSectors * bps) }];
    for (const { buf } of rootBufs) {
      for (let o = 0; o + 32 <= buf.length; o += 32) {
        if (buf[o] === 0) break;
        const attr = buf[o + 11]!;
        if (buf[o] === 0xe5 || attr === 0x0f || !(attr & 0x10)) continue;
        const first = (buf.readUInt16LE(o + 20) << 16) | buf.readUInt16LE(o + 26);
        if (first < 2) continue;
        const dotdot = dataStart + (first - 2) * clusterBytes + 32;
        const de = await readAt(fh, dotdot, 32);
        if (de.toString('ascii', 0, 2) !== '..') continue;
        // A ".." that means the root is cluster 0 by the FAT specification.
        if (de.readUInt16LE(20) || de.readUInt16LE(26)) {
          de.writeUInt16LE(0, 20);
          de.writeUInt16LE(0, 26);
          await fh.write(de, 0, 32, dotdot);
        }
      }
    }

    if (fat32) {
      const fsinfoAt = partOffset + bpb.readUInt16LE(48) * bps;
      const fsinfo = await readAt(fh, fsinfoAt, 512);
      if (fsinfo.readUInt32LE(0) === 0x41615252 && fsinfo.readUInt32LE(484) === 0x61417272) {
        let free = 0;
        for (let c = 2; c < clusters + 2; c++) if (entry(c) === 0) free++;
        fsinfo.writeUInt32LE(free, 488);
        await fh.write(fsinfo, 0, 512, fsinfoAt);
      }
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function readAt(fh: import('node:fs/promises').FileHandle, at: number, len: number): Promise<Buffer> {
  const b = Buffer.alloc(len);
  await fh.read(b, 0, len, at);
  return b;
}
