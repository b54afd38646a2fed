import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decompressStream, detectCompression, uncompressedSize } from '../../src/core/compression.js';
import { loggingTool, tempDirs } from '../burner/fixtures.js';

const dir = tempDirs('metis-compression-');

describe('uncompressedSize', () => {
  // Issue 9: gzip was unknown, so "target too small" compared the compressed size and never fired.
  it.each([['gz', ['gzip', '-k', '-1']], ['xz', ['xz', '-k', '-0', '-T1']], ['zst', ['zstd', '-q', '-1']]] as const)('knows the size of a %s image', async (ext, cmd) => {
    const d = dir();
    const raw = join(d, 'card.img');
    // Mostly zeros, as card images are: it compresses ~100:1.
    const body = Buffer.alloc(24 * 1024 * 1024);
    randomBytes(64 * 1024).copy(body, 5 * 1024 * 1024);
    writeFileSync(raw, body);
    execFileSync(cmd[0], [...cmd.slice(1), raw]);
    const file = `${raw}.${ext}`;
    const c = await detectCompression(file);
    expect(c).toBe(ext);
    expect(await uncompressedSize(file, c)).toBe(body.length);
  });

  it('a multi-member gzip too large to trust ISIZE is counted by decompressing', async () => {
    const d = dir();
    const a = join(d, 'a');
    writeFileSync(a, randomBytes(5 * 1024 * 1024));
    execFileSync('gzip', ['-k', '-1', a]);
    // Random data does not compress: 5 MiB * 1032 > 4 GiB, so ISIZE is not taken on trust.
    const both = join(d, 'both.gz');
    writeFileSync(both, Buffer.concat([readFileSync(`${a}.gz`), readFileSync(`${a}.gz`)]));
    expect(await uncompressedSize(both, 'gz')).toBe(10 * 1024 * 1024);
  });
});

describe('decompressStream', () => {
  const collect = async (s: NodeJS.ReadableStream): Promise<Buffer> => {
    const parts: Buffer[] = [];
    for await (const p of s) parts.push(p as Buffer);
    return Buffer.concat(parts);
  };

  it('for the head alone xz runs one thread (its first bytes come ~30 ms sooner), for a burn every core; both give the image', async () => {
    const d = dir();
    const raw = Buffer.concat([randomBytes(2 * 1024 * 1024), Buffer.alloc(3 * 1024 * 1024)]);
    writeFileSync(join(d, 'img'), raw);
    execFileSync('xz', ['-T2', '--block-size=1MiB', '-1', '-k', '-q', join(d, 'img')]);
    const xz = join(d, 'img.xz');
    const xzRuns = loggingTool(d, 'xz');
    try {
      const head = decompressStream(xz, 'xz', undefined, { head: true });
      const first = await collect(head.stream);
      await head.done;
      const whole = decompressStream(xz, 'xz');
      const all = await collect(whole.stream);
      await whole.done;
      expect(first.equals(raw)).toBe(true);
      expect(all.equals(raw)).toBe(true);
      expect(xzRuns.calls()).toEqual([`-dc -T1 ${xz}`, `-dc -T0 ${xz}`]);
    } finally {
      xzRuns.restore();
    }
  });
});
