import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectCompression, uncompressedSize } from '../../src/core/compression.js';
import { tempDirs } from '../burner/fixtures.js';

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
