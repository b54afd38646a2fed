import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageCache } from '../../../src/burner/source/cache.js';
import { startStreamToCache } from '../../../src/burner/source/fetch-to-cache.js';
import { GrowingFile } from '../../../src/burner/source/growing-file.js';
import { resolveImage } from '../../../src/burner/source/resolve.js';
import { burn, HEAD } from '../../../src/burner/write/burn.js';
import { pushOci } from '../../../src/core/oci/client.js';
import { makeImage, MIB, tempDirs } from '../fixtures.js';
import { REGISTRY_BIN, type Registry, startRegistry } from './registry.js';

const dir = tempDirs('metis-hwf-stream-');
const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A response body the test feeds by hand: `push` bytes, then `end` or `fail`. */
function handBody() {
  let ctl!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (ctl = c) });
  return { body, push: (b: Buffer) => ctl.enqueue(new Uint8Array(b)), end: () => ctl.close(), fail: (e: Error) => ctl.error(e) };
}

/** Resolves on the first event `pred` accepts; a guard against a hang, not a timing assertion. */
function first<T>(subscribe: (f: (e: T) => void) => void, pred: (e: T) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error('no such event within 60 s')), 60_000);
    subscribe((e) => {
      if (pred(e)) {
        clearTimeout(guard);
        resolve();
      }
    });
  });
}

function zstImage(d: string): { img: string; zst: Buffer; bmap: string } {
  const img = makeImage(d, { sizeMiB: 100, dataMiB: 6 });
  execFileSync('zstd', ['-q', '-f', '-3', img, '-o', `${img}.zst`]);
  const bmap = join(d, 'class.bmap');
  // Everything mapped: the card must equal the image.
  writeFileSync(bmap, `<bmap version="2.0"><ImageSize>${100 * MIB}</ImageSize><BlockSize>4096</BlockSize><BlockMap><Range>0-${100 * 256 - 1}</Range></BlockMap></bmap>`);
  return { img, zst: readFileSync(`${img}.zst`), bmap };
}

describe('GrowingFile', () => {
  it('a reader gets the bytes as they are written, and ends when the download ends', async () => {
    const f = join(dir(), 'g');
    writeFileSync(f, '');
    const g = new GrowingFile(f);
    const got: Buffer[] = [];
    const reading = (async () => {
      for await (const b of g.stream() as AsyncIterable<Buffer>) got.push(b);
    })();
    writeFileSync(f, 'abc', { flag: 'a' });
    g.grew(3);
    await g.until(3);
    writeFileSync(f, 'defg', { flag: 'a' });
    g.grew(4);
    g.end();
    await reading;
    expect(Buffer.concat(got).toString()).toBe('abcdefg');
    await g.complete;
  });

  it('a failed download ends the reader (no error for a decompressor to hang on) and rejects complete', async () => {
    const f = join(dir(), 'g');
    writeFileSync(f, 'xy');
    const g = new GrowingFile(f);
    g.grew(2);
    g.end(new Error('connection reset'));
    const got: Buffer[] = [];
    for await (const b of g.stream() as AsyncIterable<Buffer>) got.push(b);
    expect(Buffer.concat(got).toString()).toBe('xy');
    await expect(g.complete).rejects.toThrow('connection reset');
  });
});

describe('a download burned while it arrives (startStreamToCache + burn follow)', () => {
  it('the card is written before the download has ended; the entry is published only after, under its digest', async () => {
    const d = dir();
    const { img, zst, bmap } = zstImage(d);
    const cache = new ImageCache(join(d, 'cache'));
    const hand = handBody();
    const dl = await startStreamToCache(cache, hand.body, { expected: hex(zst), what: 'test blob', total: zst.length });
    const half = Math.floor(zst.length / 2);
    hand.push(zst.subarray(0, half));
    const listeners: Array<(e: { phase: string; bytes: number }) => void> = [];
    const burning = burn({
      image: dl.file.path, target: join(d, 'card.img'), bmap, imageSize: 100 * MIB, verify: true, follow: dl.file,
      onProgress: (e) => listeners.forEach((l) => l(e)),
      beforeCommit: ({ sha256 }) => {
        if (sha256 !== hex(zst)) throw new Error(`gate: ${sha256}`);
      },
    });
    // Only half of the file exists, yet bytes reach the card: one pass, not download-then-burn.
    await first<{ phase: string; bytes: number }>((f) => listeners.push(f), (e) => e.phase === 'writing' && e.bytes > HEAD);
    expect(readdirSync(join(d, 'cache/tmp'))).toHaveLength(1);
    expect(existsSync(cache.blobPath(hex(zst)))).toBe(false);
    hand.push(zst.subarray(half));
    hand.end();
    const r = await burning;
    expect(r.sha256).toBe(hex(zst));
    expect(readFileSync(join(d, 'card.img')).equals(readFileSync(img))).toBe(true);
    expect(await dl.publish()).toBe(cache.blobPath(hex(zst)));
    expect(readFileSync(cache.blobPath(hex(zst))).equals(zst)).toBe(true);
    expect(readdirSync(join(d, 'cache/tmp'))).toEqual([]);
  });

  it('a download that breaks off: the burn fails with the download error, the old card loses its head, nothing is cached', async () => {
    const d = dir();
    const { zst, bmap } = zstImage(d);
    const cache = new ImageCache(join(d, 'cache'));
    const out = join(d, 'card.img');
    writeFileSync(out, Buffer.alloc(100 * MIB, 0xee));
    const hand = handBody();
    const dl = await startStreamToCache(cache, hand.body, { expected: hex(zst), what: 'test blob', total: zst.length });
    hand.push(zst.subarray(0, Math.floor(zst.length / 2)));
    const listeners: Array<(e: { phase: string; bytes: number }) => void> = [];
    const burning = burn({ image: dl.file.path, target: out, bmap, imageSize: 100 * MIB, verify: true, follow: dl.file, onProgress: (e) => listeners.forEach((l) => l(e)) })
      .then(() => null, (x: unknown) => x);
    await first<{ phase: string; bytes: number }>((f) => listeners.push(f), (e) => e.phase === 'writing' && e.bytes > HEAD);
    hand.fail(new Error('connection reset by the test'));
    const e = await burning;
    expect(e).toMatchObject({ code: 'E_FETCH' });
    expect(String(e)).toContain('download broke off');
    expect(readFileSync(out).subarray(0, HEAD).every((b) => b === 0)).toBe(true);
    await expect(dl.publish()).rejects.toMatchObject({ code: 'E_FETCH' });
    await dl.discard();
    expect(await cache.list()).toEqual([]);
    expect(readdirSync(join(d, 'cache/tmp'))).toEqual([]);
  });

  it('bytes that are not the expected digest: written, refused at the gate (first MiB wiped), never published', async () => {
    const d = dir();
    const { zst, bmap } = zstImage(d);
    const cache = new ImageCache(join(d, 'cache'));
    const wrong = 'e'.repeat(64);
    const hand = handBody();
    const dl = await startStreamToCache(cache, hand.body, { expected: wrong, what: 'test blob', total: zst.length });
    hand.push(zst);
    hand.end();
    const out = join(d, 'card.img');
    writeFileSync(out, Buffer.alloc(100 * MIB, 0xee));
    const e = await burn({
      image: dl.file.path, target: out, bmap, imageSize: 100 * MIB, verify: false, follow: dl.file,
      beforeCommit: ({ sha256 }) => {
        if (sha256 !== wrong) throw new Error(`gate: expected ${wrong}, got ${sha256}`);
      },
    }).then(() => null, (x: unknown) => x);
    expect(String(e)).toContain(`gate: expected ${wrong}, got ${hex(zst)}`);
    expect(readFileSync(out).subarray(0, HEAD).every((b) => b === 0)).toBe(true);
    await expect(dl.publish()).rejects.toMatchObject({ code: 'E_DIGEST' });
    expect(await cache.list()).toEqual([]);
  });
});

describe.skipIf(!existsSync(REGISTRY_BIN))('cold pull from docker-registry on loopback, streamed into the burn', () => {
  if (!existsSync(REGISTRY_BIN)) console.warn(`skip: ${REGISTRY_BIN} missing (apt-get install docker-registry)`);
  let reg: Registry;
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => reg?.stop());

  it('resolveImage(stream) hands over the arriving file; the burn writes it; settle publishes it and records the tag', async () => {
    const d = dir();
    const { img, zst, bmap } = zstImage(d);
    const ref = `oci://${reg.host}/metis/hwf-stream:v1`;
    await pushOci(`${img}.zst`, ref, { bmap: readFileSync(bmap) });
    const cache = new ImageCache(join(d, 'cache'));
    const got = await resolveImage({ ref, cache, defer: true, stream: true });
    expect(got.streaming).toBeDefined();
    expect(got.path.startsWith(join(d, 'cache/tmp'))).toBe(true);
    expect(got.bmap).toBeDefined();
    const r = await burn({ image: got.path, target: join(d, 'card.img'), bmap: got.bmap, imageSize: 100 * MIB, verify: true, follow: got.streaming!.file });
    expect(r.sha256).toBe(hex(zst));
    expect(readFileSync(join(d, 'card.img')).equals(readFileSync(img))).toBe(true);
    await got.streaming!.settle(true);
    expect(readFileSync(cache.blobPath(hex(zst))).equals(zst)).toBe(true);
    expect(await cache.lookupRef(ref)).toMatchObject({ sha256: hex(zst) });
    // Warm now: the same reference resolves from the cache, nothing streams.
    const warm = await resolveImage({ ref, cache, defer: true, stream: true, sha256: hex(zst) });
    expect(warm.from).toBe('cache');
    expect(warm.streaming).toBeUndefined();
  });

  it('a burn that fails before the end stops the download: settle(false) leaves nothing in the cache', async () => {
    const d = dir();
    const { img, bmap } = zstImage(d);
    const ref = `oci://${reg.host}/metis/hwf-stream:v2`;
    await pushOci(`${img}.zst`, ref, { bmap: readFileSync(bmap) });
    const cache = new ImageCache(join(d, 'cache'));
    const got = await resolveImage({ ref, cache, defer: true, stream: true });
    await got.streaming!.settle(false);
    expect(await cache.list()).toEqual([]);
    expect(readdirSync(join(d, 'cache/tmp'))).toEqual([]);
    expect(await cache.lookupRef(ref)).toBeNull();
  });
});
