import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { burn } from '../../../src/burner/write/burn.js';
import { BurnAbortedError } from '../../../src/burner/write/errors.js';
import { detectCompression } from '../../../src/core/compression.js';
import { MIB, tempDirs } from '../fixtures.js';

const dir = tempDirs('metis-srcb-');

/** Random data compresses badly, so the stream takes several reads: room to abort in the middle. */
function compressed(d: string, tool: 'xz' | 'gzip' | 'zstd', mib = 12): string {
  const raw = join(d, 'img');
  writeFileSync(raw, randomBytes(mib * MIB));
  const ext = { xz: 'xz', gzip: 'gz', zstd: 'zst' }[tool];
  execFileSync(tool, ['-1', '-q', '-f', ...(tool === 'zstd' ? ['-o', `${raw}.${ext}`, raw] : ['-k', raw])]);
  return `${raw}.${ext}`;
}

describe('compressed sources', () => {
  it('recognises the format by magic bytes, not by name', async () => {
    const d = dir();
    const renamed = join(d, 'image.bin');
    renameSync(compressed(d, 'zstd', 1), renamed);
    expect(await detectCompression(renamed)).toBe('zst');
    writeFileSync(join(d, 'raw'), Buffer.alloc(512));
    expect(await detectCompression(join(d, 'raw'))).toBeNull();
  });

  it.each(['xz', 'gzip', 'zstd'] as const)('an abort in the middle of a %s stream is a clean BurnAbortedError; the decompressor is gone', async (tool) => {
    const d = dir();
    const src = compressed(d, tool);
    const ac = new AbortController();
    let n = 0;
    const e = await burn({
      image: src, target: join(d, 'card.img'), verify: false, signal: ac.signal,
      onProgress: (p) => {
        if (p.phase === 'writing' && ++n === 2) ac.abort();
      },
    }).then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(BurnAbortedError);
    // An unhandled rejection of the killed decompressor would fail this file (vitest reports it).
    await new Promise((r) => setTimeout(r, 300));
    // The decompressor reads the image from our pipe, so it is found as our child, not by the file name.
    const procs = execFileSync('sh', ['-c', `pgrep -a -P ${process.pid} || true`], { encoding: 'utf8' });
    expect(procs.split('\n').filter((l) => /(xz|zstd) -dc/.test(l))).toEqual([]);
  });

  it.each(['xz', 'gzip', 'zstd'] as const)('a truncated %s image fails with E_DECOMPRESS naming the file', async (tool) => {
    const d = dir();
    const src = compressed(d, tool, 2);
    truncateSync(src, Math.floor(statSync(src).size / 2));
    const e = await burn({ image: src, target: join(d, 'card.img'), verify: false }).then(() => null, (x: unknown) => x);
    expect(e).toMatchObject({ code: 'E_DECOMPRESS', file: src, exitCode: 6 });
    expect((e as Error).message).toContain(src);
    expect((e as Error).message).toContain('the card will not boot; burn again');
  });

  it('a gzip image with a broken body fails with E_DECOMPRESS', async () => {
    const d = dir();
    const src = compressed(d, 'gzip', 1);
    const b = readFileSync(src);
    b.fill(0x41, 20, 4000);
    writeFileSync(src, b);
    await expect(burn({ image: src, target: join(d, 'card.img'), verify: false })).rejects.toMatchObject({ code: 'E_DECOMPRESS' });
  });
});
