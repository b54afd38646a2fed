import { createHash } from 'node:crypto';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VerifyError } from '../../../src/burner/write/errors.js';
import { fileRangeReader, RangeVerifier, type RangeReader } from '../../../src/burner/write/verify.js';
import { pacedWriter } from '../../../src/burner/write/writeback.js';
import { tempDirs } from '../fixtures.js';

const dir = tempDirs('metis-hwf-verify-');
const MIB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A real file read back through fileRangeReader, with every read logged. */
async function logged(path: string): Promise<{ reader: RangeReader; reads: Array<[number, number]> }> {
  const inner = await fileRangeReader(path);
  const reads: Array<[number, number]> = [];
  return { reads, reader: { read: (o, l) => (reads.push([o, l]), inner.read(o, l)), close: () => inner.close() } };
}

describe('RangeVerifier', () => {
  it('reads nothing back before a range is settled, then reads contiguous ranges in one read', async () => {
    const f = join(dir(), 'card');
    const data = Buffer.alloc(3 * MIB, 7);
    await writeFile(f, data);
    const { reader, reads } = await logged(f);
    const v = new RangeVerifier(reader);
    v.add({ offset: 0, length: MIB, sha256: sha(data.subarray(0, MIB)) });
    v.add({ offset: MIB, length: MIB, sha256: sha(data.subarray(MIB, 2 * MIB)) });
    const mark = v.mark();
    v.add({ offset: 2 * MIB, length: MIB, sha256: sha(data.subarray(2 * MIB)) });
    await new Promise((r) => setTimeout(r, 20));
    expect(reads).toEqual([]);
    v.settle(mark);
    await v.room(0);
    expect(reads).toEqual([[0, 2 * MIB]]);
    expect(v.verifiedBytes).toBe(2 * MIB);
    await v.finish();
    expect(reads).toEqual([[0, 2 * MIB], [2 * MIB, MIB]]);
    await v.close();
  });

  it('a range that reads back different: the writer gets VerifyError at its next write (room), and finish throws it too', async () => {
    const f = join(dir(), 'card');
    const data = Buffer.alloc(2 * MIB, 1);
    await writeFile(f, data);
    const v = new RangeVerifier(await fileRangeReader(f));
    v.add({ offset: 0, length: MIB, sha256: sha(data.subarray(0, MIB)) });
    // What the burn wrote at [1 MiB, 2 MiB) is not what the card holds.
    v.add({ offset: MIB, length: MIB, sha256: sha(Buffer.alloc(MIB, 2)) });
    v.settle(v.mark());
    const e = await v.room(0).then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(VerifyError);
    expect(e).toMatchObject({ offset: MIB, length: MIB, expected: sha(Buffer.alloc(MIB, 2)), actual: sha(data.subarray(MIB)) });
    expect(() => v.check()).toThrow(VerifyError);
    await expect(v.finish()).rejects.toBe(e);
    await v.close();
  });

  it('a read error is the failure (not a pass)', async () => {
    const v = new RangeVerifier({ read: () => Promise.reject(Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' })), close: async () => {} });
    v.add({ offset: 0, length: 4096, sha256: '0'.repeat(64) });
    await expect(v.finish()).rejects.toThrow(/EIO/);
  });

  it('the writer waits while more than the bound of durable bytes is unread, and goes on when it is read', async () => {
    const f = join(dir(), 'card');
    const data = Buffer.alloc(4 * MIB, 3);
    await writeFile(f, data);
    let release: () => void = () => {};
    const inner = await fileRangeReader(f);
    const gate = new Promise<void>((r) => (release = r));
    const v = new RangeVerifier({ read: async (o, l) => (await gate, inner.read(o, l)), close: () => inner.close() });
    for (let i = 0; i < 4; i++) v.add({ offset: i * MIB, length: MIB, sha256: sha(data.subarray(i * MIB, (i + 1) * MIB)) });
    v.settle(v.mark());
    let waited = true;
    const writer = v.room(2 * MIB).then(() => (waited = false));
    await new Promise((r) => setTimeout(r, 20));
    expect(waited).toBe(true);
    release();
    await writer;
    expect(v.verifiedBytes).toBe(4 * MIB);
    await v.close();
  });
});

describe('pacedWriter tells the verifier what each flush covered', () => {
  it('writes recorded before a flush started are settled when it returns, later ones are not', async () => {
    const fh = await open(join(dir(), 'f'), 'w+');
    const settled: number[] = [];
    let added = 0;
    const w = pacedWriter(fh, true, { mark: () => added, settle: (m) => settled.push(m) });
    const block = Buffer.alloc(8 * MIB, 5);
    for (let i = 0; i < 4; i++) {
      await w.write(block, 0, block.length, i * block.length);
      added++;
    }
    // The first flush started inside the 1st write, before that write was recorded (mark 0); the
    // ones after it start inside a later write: each settles only what was recorded before it began.
    await w.drain();
    expect(settled[0]).toBe(0);
    for (let i = 1; i < settled.length; i++) expect(settled[i]).toBeGreaterThan(settled[i - 1]!);
    expect(settled.at(-1)).toBeLessThanOrEqual(3);
    await fh.close();
  });
});
