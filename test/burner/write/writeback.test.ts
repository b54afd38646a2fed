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
  it('on a block device: a flush starts once 4 MiB wait and none is in flight, never two at once; drain waits; bytes land', async () => {
    const { fh, stats } = await countingHandle(dir());
    const w = pacedWriter(fh, true);
    const small = Buffer.alloc(MIB, 7);
    for (let i = 0; i < 3; i++) await w.write(small, 0, small.length, i * MIB);
    expect(stats.syncs).toBe(0); // 3 MiB: not yet
    await w.write(small, 0, small.length, 3 * MIB);
    expect(stats.syncs).toBe(1); // the card starts writing after the first 4 MiB, not after 32
    expect(stats.running).toBe(1);
    const block = Buffer.alloc(4 * MIB, 7);
    for (let i = 1; i < 24; i++) await w.write(block, 0, block.length, i * block.length); // 96 MiB in all
    await w.drain();
    expect(stats.maxRunning).toBe(1);
    expect(stats.running).toBe(0);
    expect(stats.syncs).toBeGreaterThanOrEqual(3);
    expect((await fh.stat()).size).toBe(96 * MIB);
    await fh.close();
  });

  it('kick: a flush of whatever waits when none is in flight; nothing when nothing waits, when one is in flight, or on a file', async () => {
    const { fh, stats } = await countingHandle(dir());
    const w = pacedWriter(fh, true);
    w.kick();
    expect(stats.syncs).toBe(0); // nothing waits
    const small = Buffer.alloc(64 * 1024, 7);
    await w.write(small, 0, small.length, 0);
    expect(stats.syncs).toBe(0); // 64 KiB: under the 4 MiB a write starts a flush at
    w.kick();
    expect(stats.syncs).toBe(1);
    await w.write(small, 0, small.length, small.length);
    w.kick();
    expect(stats.syncs).toBe(1); // one in flight: never two at once
    await w.drain();
    w.kick();
    expect(stats.syncs).toBe(2); // the 64 KiB written meanwhile
    await w.drain();
    await fh.close();
    const file = await countingHandle(dir());
    const f = pacedWriter(file.fh, false);
    await f.write(small, 0, small.length, 0);
    f.kick();
    expect(file.stats.syncs).toBe(0);
    await file.fh.close();
  });

  it('a writer ahead of the card waits for the flush in flight once 32 MiB wait behind it', async () => {
    const fh = await open(join(dir(), 'f'), 'w+');
    const real = fh.datasync.bind(fh);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let syncs = 0;
    fh.datasync = async () => {
      syncs++;
      await gate;
      await real();
    };
    const w = pacedWriter(fh, true);
    const block = Buffer.alloc(4 * MIB, 3);
    await w.write(block, 0, block.length, 0); // starts the first flush, held by the gate
    let written = 1;
    const writer = (async () => {
      for (let i = 1; i <= 9; i++) {
        await w.write(block, 0, block.length, i * block.length);
        written++;
      }
    })();
    // 32 MiB wait behind the held flush: the 9th block's write went to the page cache, then waits for the flush.
    for (let i = 0; i < 200 && written < 8; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 100));
    expect(written).toBe(8);
    expect(syncs).toBe(1);
    release();
    await writer;
    await w.drain();
    expect(written).toBe(10);
    expect(syncs).toBeGreaterThanOrEqual(2);
    await fh.close();
  });

  it('with a read-back and a known total, the last 48 MiB wait behind 8 MiB, not 32 (a short verify tail); without a read-back the total changes nothing', async () => {
    const block = Buffer.alloc(4 * MIB, 9);
    /** Blocks written before the writer waits behind the first (held) flush. */
    const aheadOfFlush = async (durable: boolean, expectTotal: boolean) => {
      const fh = await open(join(dir(), 'f'), 'w+');
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      fh.datasync = () => gate;
      const w = pacedWriter(fh, true, durable ? { mark: () => 0, settle: () => {} } : undefined);
      if (expectTotal) w.expect(40 * MIB);
      let written = 0;
      const writer = (async () => {
        for (let i = 0; i < 10; i++) {
          await w.write(block, 0, block.length, i * block.length);
          written++;
        }
      })();
      for (let last = -1, i = 0; i < 200 && last !== written; i++) {
        last = written;
        await new Promise((r) => setTimeout(r, 50));
      }
      const ahead = written;
      release();
      await writer;
      await w.drain();
      await fh.close();
      return ahead;
    };
    expect(await aheadOfFlush(true, false)).toBe(8); // 4 MiB start the flush, 28 more, the 8th write waits (32 MiB)
    expect(await aheadOfFlush(true, true)).toBe(2); // the whole 40 MiB are the tail: 8 MiB
    expect(await aheadOfFlush(false, true)).toBe(8);
  });

  it('on an image file: flushed beside the writes too, once 32 MiB wait (not 4: each flush is a journal commit), never two at once', async () => {
    const { fh, stats } = await countingHandle(dir());
    const w = pacedWriter(fh, false);
    const block = Buffer.alloc(8 * MIB, 1);
    for (let i = 0; i < 3; i++) await w.write(block, 0, block.length, i * block.length);
    expect(stats.syncs).toBe(0); // 24 MiB: not yet
    await w.write(block, 0, block.length, 3 * block.length);
    expect(stats.syncs).toBe(1); // 32 MiB
    for (let i = 4; i < 12; i++) await w.write(block, 0, block.length, i * block.length); // 96 MiB in all
    await w.drain();
    expect(stats.maxRunning).toBe(1);
    expect(stats.syncs).toBeGreaterThanOrEqual(2);
    expect(stats.syncs).toBeLessThanOrEqual(3);
    expect((await fh.stat()).size).toBe(96 * MIB);
    // A read-back and a known total change nothing on a file: its read-back comes from the page cache, no short tail.
    const file = await countingHandle(dir());
    const settled: number[] = [];
    let added = 0;
    const v = pacedWriter(file.fh, false, { mark: () => added, settle: (m) => settled.push(m) });
    v.expect(40 * MIB);
    for (let i = 0; i < 5; i++) {
      await v.write(block, 0, block.length, i * block.length);
      added++;
    }
    expect(file.stats.syncs).toBe(1); // at 32 MiB, none at 8 MiB steps in the "tail"
    await v.drain();
    expect(settled).toEqual([3]); // the flush started after the 4th write returned, before it was recorded
    await fh.close();
    await file.fh.close();
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
