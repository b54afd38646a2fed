import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeCard } from '../../../src/burner/pipeline.js';
import { INSPECTED_HEAD, openImageStream } from '../../../src/burner/write/image-stream.js';
import { allocationFromBmap } from '../../../src/core/ranges/allocation.js';
import { exampleManifest } from '../../helpers/context.js';
import { loggingTool, makeImage, MIB, ROOT_START, tempDirs } from '../fixtures.js';

const dir = tempDirs('metis-imgstream-');

/** Decompressors this process started that still run (by parent pid, from /proc). */
function liveDecompressors(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (ppid === process.pid && /^(xz|zstd)$/.test(comm)) out.push(`${pid} ${comm}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** 12 MiB in 1 MiB .xz blocks: the head, 5 MiB of zeros (no mapped data), then data; its bmap maps all but the zeros. */
function pickedFixture(d: string) {
  const raw = Buffer.concat([randomBytes(3 * MIB), Buffer.alloc(5 * MIB), randomBytes(4 * MIB)]);
  const img = join(d, 'img');
  // The zeros a hole, as in a real image's free space: bmaptool leaves them out of the map.
  writeFileSync(img, raw.subarray(0, 3 * MIB));
  truncateSync(img, 8 * MIB);
  appendFileSync(img, raw.subarray(8 * MIB));
  execFileSync('xz', ['-T2', '--block-size=1MiB', '-0', '-k', '-q', img]);
  const bmap = join(d, 'img.bmap');
  execFileSync('bmaptool', ['-q', 'create', '-o', bmap, img]);
  return { raw, xz: `${img}.xz`, bmap };
}

const collect = async (it: AsyncIterable<Buffer>): Promise<Buffer> => {
  const parts: Buffer[] = [];
  for await (const p of it) parts.push(p);
  return Buffer.concat(parts);
};

describe('openImageStream', () => {
  it.each(['xz', 'zst', 'gz'] as const)('%s: the head read ahead, then every byte in order, the head included once; the digest covers the file', async (c) => {
    const d = dir();
    const raw = Buffer.concat([randomBytes(3 * MIB), Buffer.alloc(2 * MIB)]);
    const img = join(d, 'img');
    writeFileSync(img, raw);
    const file = { xz: () => (execFileSync('xz', ['-T2', '-1', '-k', '-q', img]), `${img}.xz`), zst: () => (execFileSync('zstd', ['-q', '-1', '-k', img, '-o', `${img}.zst`]), `${img}.zst`), gz: () => (execFileSync('gzip', ['-1', '-k', img]), `${img}.gz`) }[c]();
    const s = await openImageStream({ image: file, compression: c });
    expect((await s.head(INSPECTED_HEAD)).equals(raw.subarray(0, INSPECTED_HEAD))).toBe(true);
    expect((await s.head(100)).equals(raw.subarray(0, 100))).toBe(true); // asking again reads nothing more
    expect((await collect(s.chunks())).equals(raw)).toBe(true);
    await s.done;
    const { sha256 } = await s.source.finish();
    expect(sha256).toBe(execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0]);
    await s.close();
  });

  it('with a block map only needed .xz blocks are decompressed, yet the head is the image\'s own first bytes', async () => {
    const { raw, xz, bmap } = pickedFixture(dir());
    const s = await openImageStream({ image: xz, compression: 'xz', bmap });
    expect(s.picked).toBe(true);
    expect(s.segments).toEqual([{ offset: 0, size: 3 * MIB }, { offset: 8 * MIB, size: 4 * MIB }]);
    expect((await s.head(INSPECTED_HEAD)).equals(raw.subarray(0, INSPECTED_HEAD))).toBe(true);
    // More than the first run holds: only the first run, never bytes of a later block in its place.
    expect((await s.head(5 * MIB)).equals(raw.subarray(0, 3 * MIB))).toBe(true);
    const all = await collect(s.chunks());
    expect(all.equals(Buffer.concat([raw.subarray(0, 3 * MIB), raw.subarray(8 * MIB)]))).toBe(true);
    expect((await allocationFromBmap(bmap, s.expected)).map.size).toBe(12 * MIB);
    await s.close();
  });

  it('a corrupt stream fails head() with E_DECOMPRESS; close() leaves no decompressor running', async () => {
    const d = dir();
    const img = join(d, 'img');
    writeFileSync(img, randomBytes(4 * MIB));
    execFileSync('xz', ['-T1', '-0', '-k', '-q', img]);
    const bytes = readFileSync(`${img}.xz`);
    bytes[bytes.length >> 1]! ^= 0xff;
    writeFileSync(`${img}.xz`, bytes);
    const s = await openImageStream({ image: `${img}.xz`, compression: 'xz' });
    await expect(s.head(8 * MIB)).rejects.toMatchObject({ code: 'E_DECOMPRESS' });
    await s.close();
    expect(liveDecompressors()).toEqual([]);
  });
});

describe('writeCard with a compressed image', () => {
  it('runs one decompressor: the image check reads its head from the one the burn reads on', async () => {
    const d = dir();
    const img = makeImage(d, { sizeMiB: 96, dataMiB: 2 });
    execFileSync('xz', ['-T2', '-1', '-k', '-q', img]);
    const target = join(d, 'card.img');
    const xzRuns = loggingTool(d, 'xz');
    try {
      await writeCard({ target, want: 'file', image: `${img}.xz`, label: 'class.img.xz', verify: true, manifest: () => exampleManifest() });
    } finally {
      xzRuns.restore();
    }
    expect(xzRuns.calls().filter((a) => a.startsWith('-dc'))).toEqual(['-dc -T0']);
    // The image as written: its table, and its root partition byte for byte (the boot one holds the manifest now).
    const [card, image] = [readFileSync(target), readFileSync(img)];
    expect(card.subarray(0, 512).equals(image.subarray(0, 512))).toBe(true);
    expect(card.subarray(ROOT_START * 512).equals(image.subarray(ROOT_START * 512))).toBe(true);
    expect(liveDecompressors()).toEqual([]);
  });

  it('an image refused by the check (no partition table) stops the decompressor; the target is not created', async () => {
    const d = dir();
    const img = makeImage(d, { sizeMiB: 96, dataMiB: 2 });
    const bytes = readFileSync(img);
    bytes.fill(0, 0, 512);
    writeFileSync(img, bytes);
    execFileSync('zstd', ['-q', '-1', '-k', img, '-o', `${img}.zst`]);
    const target = join(d, 'card.img');
    const err = await writeCard({ target, want: 'file', image: `${img}.zst`, label: 'class.img.zst', verify: true, manifest: () => exampleManifest() }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_IMAGE_NO_TABLE' });
    expect(readdirSync(d)).not.toContain('card.img');
    expect(liveDecompressors()).toEqual([]);
  });
});
