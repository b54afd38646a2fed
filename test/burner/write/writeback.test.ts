import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pacedWriter } from '../../../src/burner/write/writeback.js';
import { tempDirs } from '../fixtures.js';

const dir = tempDirs('metis-wbb-');
const MIB = 1024 * 1024;

/** A FileHandle whose datasync is slow and counted, to observe pacing without a real card. */
async function countingHandle(d: string) {
  const fh = await open(join(d, 'f'), 'w+');
  const stats = { syncs: 0, running: 0, maxRunning: 0 };
  const real = fh.datasync.bind(fh);
  fh.datasync = async () => {
    stats.syncs++;
    stats.maxRunning = Math.max(stats.maxRunning, ++stats.running);
    await new Promise((r) => setTimeout(r, 30));
    await real();
    stats.running--;
  };
  return { fh, stats };
}

describe('pacedWriter', () => {
  it('on a block device: one datasync per 32 MiB, never two at once; drain waits for it; bytes land', async () => {
    const { fh, stats } = await countingHandle(dir());
    const w = pacedWriter(fh, true);
    const block = Buffer.alloc(4 * MIB, 7);
    for (let i = 0; i < 7; i++) await w.write(block, 0, block.length, i * block.length);
    expect(stats.syncs).toBe(0);
    await w.write(block, 0, block.length, 7 * block.length); // 32 MiB
    expect(stats.syncs).toBe(1);
    for (let i = 8; i < 24; i++) await w.write(block, 0, block.length, i * block.length); // 96 MiB
    await w.drain();
    expect(stats.syncs).toBe(3);
    expect(stats.maxRunning).toBe(1);
    expect(stats.running).toBe(0);
    expect((await fh.stat()).size).toBe(96 * MIB);
    await fh.close();
  });

  it('on an image file: no syncs while writing (the final fsync is enough)', async () => {
    const { fh, stats } = await countingHandle(dir());
    const w = pacedWriter(fh, false);
    const block = Buffer.alloc(8 * MIB, 1);
    for (let i = 0; i < 6; i++) await w.write(block, 0, block.length, i * block.length);
    await w.drain();
    expect(stats.syncs).toBe(0);
    await fh.close();
  });

  it('a failed flush surfaces at drain', async () => {
    const d = dir();
    const fh = await open(join(d, 'f'), 'w+');
    fh.datasync = () => Promise.reject(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    const w = pacedWriter(fh, true);
    const block = Buffer.alloc(32 * MIB);
    await w.write(block, 0, block.length, 0);
    await expect(w.drain()).rejects.toThrow(/EIO/);
    await fh.close();
  });
});
