import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run, type Log } from '../core/exec.js';
import type { DiskIds } from './customize.js';

const SECTOR = 512;
const MIB = 1024 * 1024;

export interface Layout {
  totalBytes: number;
  boot: { startSector: number; sectors: number };
  root: { startSector: number; sectors: number };
}

/** MBR: 1 MiB gap, FAT32 boot partition, ext4 root to the end — the layout Pi firmware expects. */
export function layout(bootMiB: number, totalMiB: number): Layout {
  const bootStart = MIB / SECTOR;
  const bootSectors = (bootMiB * MIB) / SECTOR;
  const rootStart = bootStart + bootSectors;
  const total = totalMiB * MIB;
  const rootSectors = total / SECTOR - rootStart;
  if (rootSectors < (64 * MIB) / SECTOR) throw new Error(`image of ${totalMiB} MiB leaves no room for the root partition`);
  return { totalBytes: total, boot: { startSector: bootStart, sectors: bootSectors }, root: { startSector: rootStart, sectors: rootSectors } };
}

export function sfdiskScript(l: Layout, diskId: string): string {
  return [
    'label: dos',
    `label-id: 0x${diskId}`,
    'unit: sectors',
    `start=${l.boot.startSector}, size=${l.boot.sectors}, type=c, bootable`,
    `start=${l.root.startSector}, size=${l.root.sectors}, type=83`,
    '',
  ].join('\n');
}

/**
 * Writes the whole image as a file, no loop device or mount: the host kernel needn't parse
 * partitions or know FAT. Both filesystems are created in place at their partition offsets.
 */
export async function writeDisk(image: string, l: Layout, ids: DiskIds, rootfs: string, bootFiles: string, log: Log): Promise<void> {
  const fh = await open(image, 'w');
  try {
    await fh.truncate(l.totalBytes);
  } finally {
    await fh.close();
  }
  await run(log, 'sfdisk', ['--no-reread', '--no-tell-kernel', '-q', image], { input: sfdiskScript(l, ids.bootSerial) });
  await run(log, 'mkfs.vfat', ['-F', '32', '-s', '1', '-n', 'BOOT', '-i', ids.bootSerial, '--offset', String(l.boot.startSector), image, String((l.boot.sectors * SECTOR) / 1024)]);
  const files = await readdir(bootFiles);
  if (files.length) {
    await run(log, 'mcopy', ['-s', '-p', '-Q', '-i', `${image}@@${l.boot.startSector * SECTOR}`, ...files.map((f) => join(bootFiles, f)), '::/']);
  }
  await run(log, 'mkfs.ext4', ['-q', '-F', '-L', 'rootfs', '-U', ids.rootUuid, '-i', '8192', '-E', `offset=${l.root.startSector * SECTOR}`, '-d', rootfs, image, `${(l.root.sectors * SECTOR) / 1024}k`]);
}
