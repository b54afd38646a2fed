import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { allocationOf } from '../../../src/core/ranges/allocation.js';
import { CHUNK, ChunkMap } from '../../../src/core/ranges/chunk-map.js';
import { burn } from '../../../src/burner/write/burn.js';
import { BOOT_SECTORS, BOOT_START, isRoot, makeImage, MIB, tempDir } from '../../burner/fixtures.js';

if (!isRoot) console.warn('skip: needs root: loop devices (ext4 on a card with old bytes)');

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

describe('ChunkMap.unmarkWhole', () => {
  it('clears only chunks wholly inside the range', () => {
    const m = new ChunkMap(8 * CHUNK);
    m.mark(0, 8 * CHUNK);
    m.unmarkWhole(CHUNK / 2, 3 * CHUNK);
    expect([...m.bits]).toEqual([1, 0, 0, 1, 1, 1, 1, 1]);
  });
});

describe('ext4 unused inode-table tails', () => {
  it('are not written, and the filesystem on a card full of old bytes is still clean', async () => {
    const t = tempDir('metis-ext4-');
    cleanups.push(t.cleanup);
    const img = makeImage(t.dir, { sizeMiB: 200, dataMiB: 2 });
    const rootOffset = (BOOT_START + BOOT_SECTORS) * 512;
    const features = execFileSync('dumpe2fs', ['-h', `${img}?offset=${rootOffset}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(features).toMatch(/metadata_csum|uninit_bg/);
    // Group 1's inode table lies wholly unused (no files there): none of its chunks is marked.
    const g1 = /Group 1:[\s\S]*?Inode table at (\d+)-(\d+)/.exec(execFileSync('dumpe2fs', [`${img}?offset=${rootOffset}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))!;
    const bs = Number(/Block size:\s+(\d+)/.exec(features)![1]);
    const { map } = await allocationOf(img, 200 * MIB);
    const first = Math.ceil((rootOffset + Number(g1[1]) * bs) / CHUNK);
    const last = Math.floor((rootOffset + (Number(g1[2]) + 1) * bs) / CHUNK) - 1;
    expect(last).toBeGreaterThan(first);
    for (let c = first; c <= last; c++) expect(map.has(c), `chunk ${c}`).toBe(false);

  });

  it.skipIf(!isRoot)('leave a card full of old bytes with a clean filesystem (loop device)', async () => {
    const t = tempDir('metis-ext4-');
    cleanups.push(t.cleanup);
    const img = makeImage(t.dir, { sizeMiB: 200, dataMiB: 2 });
    const rootOffset = (BOOT_START + BOOT_SECTORS) * 512;
    // A block device keeps what it held wherever nothing is written (a file target is truncated).
    const card = join(t.dir, 'card.img');
    const fd = openSync(card, 'w');
    const junk = Buffer.alloc(MIB, 0xa5);
    for (let i = 0; i < 200; i++) writeSync(fd, junk);
    closeSync(fd);
    const dev = execFileSync('losetup', ['-f', '--show', card], { encoding: 'utf8' }).trim();
    try {
      await burn({ image: img, target: dev, verify: true });
    } finally {
      execFileSync('losetup', ['-d', dev]);
    }
    expect(readFileSync(card).subarray(199 * MIB).every((b) => b === 0xa5)).toBe(true);
    execFileSync('e2fsck', ['-fn', `${card}?offset=${rootOffset}`], { stdio: 'pipe' });
  });
});
