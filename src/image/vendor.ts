import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { MetisError } from '../lib/errors.js';
import { probeFilesystem, readPartitionTable, type FsKind, type Partition } from '../core/partition-table.js';
import { decompressStream, detectCompression } from '../core/compression.js';
import type { Cleanups } from './interrupt.js';
import { execSync, run, type Log } from '../core/exec.js';

/** What a vendor image (Raspberry Pi OS, Armbian, Ubuntu for Pi…) gives the build. */
export interface VendorTree {
  /** The vendor's root tree, its boot partition's files placed at bootPath. */
  root: string;
  /** The vendor's kernel command line (cmdline.txt on its boot partition), when it has one. */
  cmdline?: string;
}

interface Found {
  part: Partition;
  fs: FsKind;
}

/** Picks the root (largest ext partition) and the boot partition (first FAT one) by their superblocks. */
export async function findVendorPartitions(image: string, label: string): Promise<{ root: Partition; boot?: Partition }> {
  const table = await readPartitionTable(image).catch((e: unknown) => {
    throw new MetisError('E_BASE', `base image ${label}: no MBR or GPT partition table (is it a disk image?)`, { file: label, cause: e });
  });
  const found: Found[] = [];
  for (const part of table.partitions) found.push({ part, fs: await probeFilesystem(image, part.offset) });
  const exts = found.filter((f) => f.fs === 'ext').sort((a, b) => b.part.size - a.part.size);
  const fat = found.find((f) => f.fs.startsWith('fat'));
  if (!exts[0]) {
    const seen = found.map((f) => `${f.part.index}:${f.fs}`).join(', ') || 'no partitions';
    throw new MetisError('E_BASE', `base image ${label}: no ext2/3/4 root partition (found ${seen})`, { file: label });
  }
  return { root: exts[0].part, boot: fat?.part };
}

/** A raw copy of the base image: compressed bases (.xz, .gz, .zst, by magic) are expanded into work. */
async function rawBase(base: string, work: string, log: Log): Promise<string> {
  const c = await detectCompression(base).catch((e: unknown) => {
    throw new MetisError('E_BASE', `base image ${base}: cannot read it`, { file: base, cause: e });
  });
  if (!c) return base;
  const out = join(work, 'base.img');
  log(`expanding ${c} base image ${base}`);
  const { stream, done } = decompressStream(base, c);
  await Promise.all([pipeline(stream, createWriteStream(out)), done]);
  return out;
}

/**
 * Copies the ext root out through a read-only loop mount (xattrs and hard links kept). The mount and
 * the loop device are released in a finally, or by the build's cleanups when it is interrupted.
 */
async function copyRoot(image: string, p: Partition, dest: string, work: string, cleanups: Cleanups, log: Log): Promise<void> {
  const mnt = join(work, 'base-root');
  await mkdir(mnt, { recursive: true });
  const loop = await run(log, 'losetup', ['-f', '--show', '-r', '-o', String(p.offset), '--sizelimit', String(p.size), image]);
  const dropDetach = cleanups.add(`loop device ${loop}`, () => execSync('losetup', ['-d', loop]));
  let dropUmount: (() => void) | undefined;
  try {
    await run(log, 'mount', ['-t', 'ext4', '-o', 'ro,noload', loop, mnt]);
    dropUmount = cleanups.add(`mount ${mnt}`, () => {
      if (execSync('umount', [mnt]).exitCode !== 0) execSync('umount', ['-l', mnt]);
    });
    await run(log, 'cp', ['-a', `${mnt}/.`, `${dest}/`]);
  } finally {
    if (dropUmount) {
      await run(log, 'umount', [mnt]).catch(() => run(log, 'umount', ['-l', mnt]));
      dropUmount();
    }
    await run(log, 'losetup', ['-d', loop]);
    dropDetach();
  }
}

/** The FAT boot partition's files, read with mtools (the host needs no vfat driver). */
async function copyBoot(image: string, p: Partition, dest: string, log: Log): Promise<void> {
  await mkdir(dest, { recursive: true });
  const at = `${image}@@${p.offset}`;
  const listing = await run(log, 'mdir', ['-b', '-i', at, '::/']).catch(() => '');
  if (!listing.trim()) return;
  await run(log, 'mcopy', ['-s', '-p', '-n', '-m', '-i', at, '::/*', `${dest}/`]);
}

/**
 * Unpacks a vendor disk image into root (an empty directory): its ext root tree, and its FAT boot
 * partition's files at bootPath, where the image build stages the new boot partition from.
 */
export async function vendorRootfs(base: string, root: string, bootPath: string, work: string, cleanups: Cleanups, log: Log): Promise<VendorTree> {
  const image = await rawBase(base, work, log);
  const parts = await findVendorPartitions(image, base);
  log(`base ${base}: root partition ${parts.root.index}, boot partition ${parts.boot?.index ?? 'none'}`);
  await copyRoot(image, parts.root, root, work, cleanups, log);
  const bootDir = join(root, bootPath.slice(1));
  if (parts.boot) {
    // What the vendor root holds at its mount point is replaced by the partition that is mounted there.
    await rm(bootDir, { recursive: true, force: true });
    await copyBoot(image, parts.boot, bootDir, log);
  }
  await mkdir(bootDir, { recursive: true });
  const cmdline = (await readdir(bootDir)).includes('cmdline.txt') ? (await readFile(join(bootDir, 'cmdline.txt'), 'utf8')).trim() : undefined;
  return { root, cmdline };
}

/**
 * The vendor's command line with its root= pointed at the new image's root partition by PARTUUID:
 * Pi kernels boot without an initramfs and resolve PARTUUID themselves (UUID needs one).
 */
export function vendorCmdline(cmdline: string, diskId: string): string {
  const root = `root=PARTUUID=${diskId.toLowerCase()}-02`;
  const words = cmdline.split(/\s+/).filter(Boolean);
  const at = words.findIndex((w) => w.startsWith('root='));
  if (at >= 0) words[at] = root;
  else words.unshift(root);
  return words.join(' ');
}
