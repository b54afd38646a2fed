import { mkdir, open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { onPath, run } from '../core/exec.js';
import { formatFat32 } from './fat32.js';

const SECTOR = 512;
const quiet = () => {};
const MIB = 1024 * 1024;

export interface DemoImageLayout {
  bootStart: number;
  bootSectors: number;
  rootStart: number;
  rootSectors: number;
  totalBytes: number;
}

export function demoLayout(bootMiB = 64, rootMiB = 24): DemoImageLayout {
  const bootStart = MIB / SECTOR;
  const bootSectors = (bootMiB * MIB) / SECTOR;
  const rootStart = bootStart + bootSectors;
  const rootSectors = (rootMiB * MIB) / SECTOR;
  return { bootStart, bootSectors, rootStart, rootSectors, totalBytes: (rootStart + rootSectors) * SECTOR };
}

/** A DOS partition table: FAT32 (LBA) boot partition, Linux root. CHS fields carry the "use LBA" marker. */
export function mbr(l: DemoImageLayout, diskId: number): Buffer {
  const b = Buffer.alloc(SECTOR);
  b.writeUInt32LE(diskId >>> 0, 440);
  const entry = (i: number, type: number, start: number, sectors: number, bootable: boolean) => {
    const o = 446 + 16 * i;
    b.writeUInt8(bootable ? 0x80 : 0, o);
    b.set([0xfe, 0xff, 0xff], o + 1);
    b.writeUInt8(type, o + 4);
    b.set([0xfe, 0xff, 0xff], o + 5);
    b.writeUInt32LE(start, o + 8);
    b.writeUInt32LE(sectors, o + 12);
  };
  entry(0, 0x0c, l.bootStart, l.bootSectors, true);
  entry(1, 0x83, l.rootStart, l.rootSectors, false);
  b.set([0x55, 0xaa], 510);
  return b;
}

function haveMkfsVfat(): boolean {
  return onPath('mkfs.vfat');
}

export interface DemoImageOptions {
  /** 'own': our formatter even when dosfstools is installed (tests judge it with fsck.fat). */
  fat?: 'auto' | 'own' | 'mkfs.vfat';
  bootMiB?: number;
  rootMiB?: number;
}

/**
 * A small class image like the real ones (MBR, FAT32 boot, ext4 root) built without root, loop
 * devices, or dosfstools: the partition table is ours, the FAT32 volume is mkfs.vfat's when present
 * and ours otherwise, the ext4 root is mkfs.ext4 -d writing at an offset inside the file.
 */
export async function makeDemoImage(out: string, scratch: string, opts: DemoImageOptions = {}): Promise<{ layout: DemoImageLayout; fat: 'own' | 'mkfs.vfat' }> {
  const l = demoLayout(opts.bootMiB, opts.rootMiB);
  const fat = opts.fat === 'own' || (opts.fat !== 'mkfs.vfat' && !haveMkfsVfat()) ? 'own' : 'mkfs.vfat';
  await rm(out, { force: true });
  const fh = await open(out, 'w+');
  try {
    await fh.truncate(l.totalBytes);
    await fh.write(mbr(l, 0x4d455449), 0, SECTOR, 0);
    if (fat === 'own') await formatFat32(fh, l.bootStart * SECTOR, l.bootSectors, { label: 'BOOT', volumeId: 0x20261121, hiddenSectors: l.bootStart });
  } finally {
    await fh.close();
  }
  if (fat === 'mkfs.vfat') {
    await run(quiet, 'mkfs.vfat', ['-F', '32', '-s', '1', '-n', 'BOOT', '-i', '20261121', '--offset', String(l.bootStart), out, String((l.bootSectors * SECTOR) / 1024)]);
  }
  const tree = join(scratch, 'demo-rootfs');
  await rm(tree, { recursive: true, force: true });
  await mkdir(join(tree, 'etc'), { recursive: true });
  await mkdir(join(tree, 'boot/firmware'), { recursive: true });
  await writeFile(join(tree, 'etc/os-release'), 'PRETTY_NAME="Metis demo class image"\nID=debian\nVERSION_ID="12"\n');
  await writeFile(join(tree, 'etc/hostname'), '');
  await writeFile(join(tree, 'etc/machine-id'), '');
  await run(quiet, 'mkfs.ext4', ['-q', '-F', '-L', 'rootfs', '-U', '5e1ec7ed-0000-4000-8000-00000000de00', '-E', `offset=${l.rootStart * SECTOR}`, '-d', tree, out, `${(l.rootSectors * SECTOR) / 1024}k`]);
  await rm(tree, { recursive: true, force: true });
  return { layout: l, fat };
}
