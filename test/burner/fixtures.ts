import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';

export const MIB = 1024 * 1024;
export const BOOT_START = 2048; // sectors
export const BOOT_SECTORS = 131072; // 64 MiB
export const ROOT_START = BOOT_START + BOOT_SECTORS;

export function tempDir(prefix = 'metis-burn-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A Pi-like image: MBR (or GPT), FAT32 boot at 1 MiB, ext4 root holding `dataMiB` of random data. */
export function makeImage(dir: string, opts: { sizeMiB?: number; dataMiB?: number; label?: 'dos' | 'gpt' } = {}): string {
  const sizeMiB = opts.sizeMiB ?? 160;
  const img = join(dir, 'class.img');
  execFileSync('truncate', ['-s', `${sizeMiB}M`, img]);
  const table = opts.label === 'gpt'
    ? `label: gpt\nstart=${BOOT_START},size=${BOOT_SECTORS},type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\nstart=${ROOT_START},size=${(sizeMiB - 66) * 2048},type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n`
    : `label: dos\nstart=${BOOT_START},size=${BOOT_SECTORS},type=c\nstart=${ROOT_START},type=83\n`;
  execFileSync('sfdisk', ['-q', img], { input: table });
  execFileSync('mkfs.vfat', ['-F', '32', '-s', '1', '-i', '12345678', '--offset', String(BOOT_START), img, String(BOOT_SECTORS / 2)], { stdio: 'ignore' });
  const rootfs = join(dir, 'rootfs');
  mkdirSync(join(rootfs, 'etc'), { recursive: true });
  writeFileSync(join(rootfs, 'etc/hostname'), 'golden\n');
  writeFileSync(join(rootfs, 'data.bin'), randomBytes((opts.dataMiB ?? 8) * MIB));
  const rootKiB = (sizeMiB * MIB - ROOT_START * 512 - (opts.label === 'gpt' ? MIB : 0)) / 1024;
  execFileSync('mkfs.ext4', ['-q', '-F', '-U', '3a1f0c2e-5b7d-4e8f-9a10-b2c3d4e5f601', '-E', `offset=${ROOT_START * 512}`, '-d', rootfs, img, `${Math.floor(rootKiB)}k`]);
  return img;
}

/** fsck.fat has no offset option: judge the boot partition from a copy of its bytes. */
export function fsckBoot(img: string, dir: string): { status: number | null; report: string } {
  const part = join(dir, 'boot.part');
  execFileSync('dd', [`if=${img}`, `of=${part}`, 'bs=512', `skip=${BOOT_START}`, `count=${BOOT_SECTORS}`, 'status=none']);
  const r = spawnSync('fsck.fat', ['-n', part], { encoding: 'utf8' });
  return { status: r.status, report: r.stdout + r.stderr };
}

export function mtype(img: string, path: string): Buffer {
  return execFileSync('mtype', ['-i', `${img}@@${BOOT_START * 512}`, `::${path}`], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
}

/** An image file standing for a card that booted: SIZE of 0xee with an MBR signature. */
export function oldBootableCard(path: string, sizeMiB: number): string {
  const old = Buffer.alloc(sizeMiB * MIB, 0xee);
  old[510] = 0x55;
  old[511] = 0xaa;
  writeFileSync(path, old);
  return path;
}

export const isRoot = process.getuid?.() === 0;

/** For a test file: a maker of temp dirs that are all removed after each test. */
export function tempDirs(prefix: string): () => string {
  const made: Array<() => void> = [];
  afterEach(() => made.splice(0).forEach((c) => c()));
  return () => {
    const t = tempDir(prefix);
    made.push(t.cleanup);
    return t.dir;
  };
}

/**
 * `tool` first on PATH (until `restore`): it logs its arguments, one call a line, then runs the real
 * one. What a test learns from `calls()` is how Metis ran the tool, the tool itself unchanged.
 */
export function loggingTool(dir: string, tool: string): { calls: () => string[]; restore: () => void } {
  const real = execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
  const bin = join(dir, `logging-${tool}`);
  const log = join(bin, 'calls.log');
  mkdirSync(bin);
  writeFileSync(log, '');
  writeFileSync(join(bin, tool), `#!/bin/sh\necho "$*" >> '${log}'\nexec '${real}' "$@"\n`, { mode: 0o755 });
  const saved = process.env['PATH'];
  process.env['PATH'] = `${bin}:${saved}`;
  return {
    calls: () => readFileSync(log, 'utf8').split('\n').filter(Boolean),
    restore: () => {
      process.env['PATH'] = saved;
    },
  };
}
