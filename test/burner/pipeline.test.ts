import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InjectFailedError, WriteFailedError, writeCard } from '../../src/burner/pipeline.js';
import { exitCodeOf } from '../../src/burner/commands/exit-codes.js';
import { parseManifest, serializeManifest } from '../../src/manifest/load.js';
import { exampleManifest } from '../helpers/context.js';
import { BOOT_START, isRoot, makeImage, MIB, mtype, oldBootableCard, tempDirs } from './fixtures.js';

const dir = tempDirs('metis-pipeline-');
const mtools = { ...process.env, MTOOLS_SKIP_CHECK: '1' };
const manifestAt = (file: string, offset: number) => spawnSync('mtype', ['-i', `${file}@@${offset}`, '::metis/node.yaml'], { env: mtools, encoding: 'utf8' });

/** A 40 MiB image whose FAT16 starts at sector 64 (32 KiB): boot sector, FATs and root directory lie in the held-back first MiB. */
function lowFatImage(d: string): string {
  const img = join(d, 'low.img');
  execFileSync('truncate', ['-s', '40M', img]);
  execFileSync('sfdisk', ['-q', img], { input: 'label: dos\nstart=64,size=65536,type=6\nstart=65600,type=83\n' });
  execFileSync('mkfs.vfat', ['-F', '16', '--offset', '64', img, '32768'], { stdio: 'ignore' });
  writeFileSync(join(d, 'config.txt'), 'arm_64bit=1\n');
  execFileSync('mcopy', ['-i', `${img}@@${64 * 512}`, join(d, 'config.txt'), '::/config.txt'], { env: mtools });
  return img;
}

describe('writeCard: the manifest goes in before the partition table', () => {
  if (!isRoot) console.warn('skip: the block-map card case needs root (loop devices)');
  it.each([true, false])('the manifest is on the card (synced) before its first MiB; a burn stopped at the head keeps the old head and takes the manifest off again (verify %s)', async (verify) => {
    const d = dir();
    const img = makeImage(d, { sizeMiB: 96, dataMiB: 2 });
    const target = oldBootableCard(join(d, 'card.img'), 96);
    const m = exampleManifest();
    const stop = new Error('the workstation said no');
    let atHead: ReturnType<typeof manifestAt> | null = null;
    const beforeHead = async () => {
      atHead = manifestAt(target, BOOT_START * 512);
      throw stop;
    };
    const err = await writeCard({ target, want: 'file', image: img, label: 'class.img', verify, manifest: () => m, beforeHead }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WriteFailedError);
    expect((err as Error).cause).toBe(stop);
    // When the head was due, the FAT partition (where the image's table puts it) held the manifest, whole...
    expect(atHead!.status).toBe(0);
    expect(atHead!.stdout).toBe(serializeManifest(m));
    const card = readFileSync(target);
    // ...the old head is still there (0xee, old signature): the card did not become the new one...
    expect(card.subarray(0, 446).every((b) => b === 0xee)).toBe(true);
    // ...and the manifest with its join token is gone: the FAT partition is the image's own again.
    expect(manifestAt(target, BOOT_START * 512).status).not.toBe(0);
    const part = (f: string) => readFileSync(f).subarray(BOOT_START * 512, BOOT_START * 512 + 64 * 1024 * 1024);
    expect(part(target).equals(part(img))).toBe(true);
  });

  it('a completed burn: the card boots with the manifest, read back through the card\'s own table; fsck.fat is clean', async () => {
    const d = dir();
    const img = makeImage(d, { sizeMiB: 96, dataMiB: 2 });
    const target = join(d, 'card.img');
    const stages: string[] = [];
    const m = exampleManifest();
    await writeCard({ target, want: 'file', image: img, label: 'class.img', verify: true, manifest: (w) => ({ ...m, burn: { metisVersion: 't', burnedAt: '2026-12-03T00:00:00Z', image: 'class.img', imageSha256: w.sha256 } }), onProgress: (e) => e.event === 'stage' && stages.push(e.stage) });
    expect(stages).toEqual(['verify', 'write', 'inject', 'verify-card']);
    const text = mtype(target, 'metis/node.yaml').toString('utf8');
    expect(parseManifest(text).manifest.burn?.imageSha256).toBe(execFileSync('sha256sum', [img], { encoding: 'utf8' }).slice(0, 64));
    const part = join(d, 'boot.part');
    execFileSync('dd', [`if=${target}`, `of=${part}`, 'bs=512', `skip=${BOOT_START}`, 'count=131072', 'status=none']);
    expect(spawnSync('fsck.fat', ['-n', part]).status).toBe(0);
  });

  it('a FAT partition that starts inside the first MiB: its tables go down with the head, and the card reads whole', async () => {
    const d = dir();
    const img = lowFatImage(d);
    const target = join(d, 'card.img');
    const m = exampleManifest();
    await writeCard({ target, want: 'file', image: img, label: 'low.img', verify: true, manifest: () => m });
    expect(manifestAt(target, 64 * 512).stdout).toBe(serializeManifest(m));
    expect(spawnSync('mtype', ['-i', `${target}@@${64 * 512}`, '::config.txt'], { env: mtools, encoding: 'utf8' }).stdout).toBe('arm_64bit=1\n');
    const part = join(d, 'boot.part');
    execFileSync('dd', [`if=${target}`, `of=${part}`, 'bs=512', 'skip=64', 'count=65536', 'status=none']);
    expect(spawnSync('fsck.fat', ['-n', part]).status).toBe(0);
  });

  it.runIf(isRoot)('the same on a card with a block map: free clusters in the first MiB stay old unless the manifest went into them', async () => {
    const d = dir();
    const img = lowFatImage(d);
    const bmap = join(d, 'low.bmap');
    execFileSync('bmaptool', ['-q', 'create', '-o', bmap, img]);
    const backing = join(d, 'card.img');
    writeFileSync(backing, Buffer.alloc(40 * MIB, 0x5a));
    const loop = execFileSync('losetup', ['-f', '--show', backing], { encoding: 'utf8' }).trim();
    try {
      const m = exampleManifest();
      await writeCard({ target: loop, want: 'device', image: img, bmap, label: 'low.img', verify: true, manifest: () => m });
      execFileSync('blockdev', ['--flushbufs', loop]);
    } finally {
      execFileSync('losetup', ['-d', loop]);
    }
    expect(manifestAt(backing, 64 * 512).stdout).toBe(serializeManifest(exampleManifest()));
    expect(spawnSync('mtype', ['-i', `${backing}@@${64 * 512}`, '::config.txt'], { env: mtools, encoding: 'utf8' }).stdout).toBe('arm_64bit=1\n');
    // Free space of the first MiB was not written (the old card's bytes are still somewhere in it).
    expect(readFileSync(backing).subarray(0, MIB).includes(Buffer.alloc(4096, 0x5a))).toBe(true);
  });

  it('an injection that fails leaves no partition table (exit 6, the message says so), not the old card\'s table over new partitions', async () => {
    const d = dir();
    const img = makeImage(d, { sizeMiB: 96, dataMiB: 2 });
    // No FAT boot partition any more: its boot sector is gone.
    const fd = Buffer.alloc(512);
    const bytes = readFileSync(img);
    fd.copy(bytes, BOOT_START * 512);
    writeFileSync(img, bytes);
    const target = oldBootableCard(join(d, 'card.img'), 96);
    const err = await writeCard({ target, want: 'file', image: img, label: 'class.img', verify: true, manifest: () => exampleManifest() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InjectFailedError);
    expect(exitCodeOf(err)).toBe(6);
    expect((err as Error).message).toMatch(/no FAT16\/FAT32 boot partition found.*left without a partition table and will not boot; burn again/);
    // The old card image's first MiB (its bootable table) is now zeros.
    const card = readFileSync(target);
    expect(card.subarray(0, MIB).every((b) => b === 0)).toBe(true);
  });
});
