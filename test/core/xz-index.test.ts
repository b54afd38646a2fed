import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { uncompressedSize } from '../../src/core/compression.js';
import { loggingTool } from '../burner/fixtures.js';
import { crc32, pickBlocks, xzIndex } from '../../src/core/xz-index.js';

const MIB = 1024 * 1024;
let d: string;
beforeEach(() => (d = mkdtempSync(join(tmpdir(), 'metis-xzidx-'))));
afterEach(() => rmSync(d, { recursive: true, force: true }));

/** 8 MiB: random, zeros and text, in 1 MiB blocks as `xz -T2 --block-size` writes them. */
function multiBlock(): { raw: Buffer; xz: string } {
  const raw = Buffer.concat([randomBytes(2 * MIB), Buffer.alloc(3 * MIB), Buffer.from('metis '.repeat(MIB / 2)), randomBytes(MIB)]).subarray(0, 8 * MIB);
  const file = join(d, 'img');
  writeFileSync(file, raw);
  execFileSync('xz', ['-T2', '--block-size=1MiB', '-1', '-k', '-q', file]);
  return { raw, xz: `${file}.xz` };
}

const collect = async (s: NodeJS.ReadableStream): Promise<Buffer> => {
  const parts: Buffer[] = [];
  for await (const p of s) parts.push(p as Buffer);
  return Buffer.concat(parts);
};

describe('.xz blocks', () => {
  it('CRC32 is the IEEE one .xz uses (check value of "123456789")', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });

  it("lists a multi-block file's blocks, contiguous in the file and in the image", async () => {
    const { xz } = multiBlock();
    const index = await xzIndex(xz);
    expect(index?.size).toBe(8 * MIB);
    expect(index!.blocks.map((b) => [b.imageOffset / MIB, b.imageSize / MIB])).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((i) => [i, 1]));
    expect(index!.blocks[0]!.fileOffset).toBe(12);
  });

  it('a stream of picked blocks is a valid .xz (xz -t) that decompresses to exactly those blocks', async () => {
    const { raw, xz } = multiBlock();
    const index = (await xzIndex(xz))!;
    for (const keep of [[1, 6], [0], [7], [2, 3, 4]]) {
      const blocks = keep.map((i) => index.blocks[i]!);
      const stream = await collect(createReadStream(xz, { highWaterMark: 4096 }).pipe(pickBlocks(blocks)));
      const picked = join(d, `picked-${keep.join('-')}.xz`);
      writeFileSync(picked, stream);
      execFileSync('xz', ['-t', picked]);
      const want = Buffer.concat(blocks.map((b) => raw.subarray(b.imageOffset, b.imageOffset + b.imageSize)));
      expect(execFileSync('xz', ['-dc', picked], { maxBuffer: 16 * MIB }).equals(want), keep.join(',')).toBe(true);
    }
  });

  it('is null where blocks cannot be taken alone: two streams, stream padding, not xz', async () => {
    const { xz } = multiBlock();
    const two = join(d, 'two.xz');
    writeFileSync(two, Buffer.concat([readFileSync(xz), readFileSync(xz)]));
    expect(await xzIndex(two)).toBeNull();
    const padded = join(d, 'padded.xz');
    writeFileSync(padded, Buffer.concat([readFileSync(xz), Buffer.alloc(8)]));
    expect(await xzIndex(padded)).toBeNull();
    const plain = join(d, 'plain');
    writeFileSync(plain, 'not xz');
    expect(await xzIndex(plain)).toBeNull();
  });
});

describe('one listing per file', () => {
  it('a burn asks twice (size at inspection, blocks when written): xz lists an unchanged file once, a changed one again', async () => {
    const { raw, xz } = multiBlock();
    const xzRuns = loggingTool(d, 'xz');
    try {
      const size = await uncompressedSize(xz, 'xz');
      const index = await xzIndex(xz);
      expect(size).toBe(8 * MIB);
      expect(index?.size).toBe(8 * MIB);
      expect(xzRuns.calls()).toEqual([`--robot --list -vv ${xz}`]);
      // Another image under the same name (a new pull, a copy over it): listed again, its own size.
      writeFileSync(join(d, 'img'), raw.subarray(0, 3 * MIB));
      execFileSync('/usr/bin/xz', ['-T2', '--block-size=1MiB', '-1', '-k', '-q', '-f', join(d, 'img')]);
      expect((await xzIndex(xz))?.size).toBe(3 * MIB);
      expect(xzRuns.calls()).toHaveLength(2);
    } finally {
      xzRuns.restore();
    }
  });

  it('a file the index cannot describe (two streams) still has its size, from the totals', async () => {
    const { xz } = multiBlock();
    const two = join(d, 'two.xz');
    writeFileSync(two, Buffer.concat([readFileSync(xz), readFileSync(xz)]));
    expect(await xzIndex(two)).toBeNull();
    expect(await uncompressedSize(two, 'xz')).toBe(16 * MIB);
  });
});
