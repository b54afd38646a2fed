import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultCacheDir, ImageCache } from '../../../src/burner/source/cache.js';
import { resolveImage } from '../../../src/burner/source/resolve.js';

const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
let work = '';
let server: Server;
let base = '';
const body = Buffer.concat([Buffer.from('HTTP-IMAGE'), Buffer.alloc(1 << 20, 3)]);
let hits = 0;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'metis-burnerA-src-'));
  server = createServer((req, res) => {
    hits++;
    if (req.url === '/img') res.writeHead(200, { 'content-length': body.length }).end(body);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await rm(work, { recursive: true, force: true });
});

describe('cache dir', () => {
  it.each([
    [{ METIS_CACHE_DIR: '/c/m', XDG_CACHE_HOME: '/x' }, '/c/m'],
    [{ XDG_CACHE_HOME: '/x' }, '/x/metis'],
    [{ HOME: '/h' }, /^\/h\/\.cache\/metis$/],
    // The XDG spec: an empty or relative XDG_CACHE_HOME is ignored (not a cache under the cwd).
    [{ XDG_CACHE_HOME: '', HOME: '/h' }, /^\/h\/\.cache\/metis$/],
    [{ XDG_CACHE_HOME: 'rel', HOME: '/h' }, /^\/h\/\.cache\/metis$/],
  ])('%j', (env, want) => expect(defaultCacheDir(env)).toMatch(want));
});

describe('image sources', () => {
  it('a local file is hashed in place; a wrong --sha256 is refused naming both digests', async () => {
    const f = join(work, 'local.img');
    await writeFile(f, body);
    const cache = new ImageCache(join(work, 'c1'));
    expect(await resolveImage({ ref: f, cache })).toMatchObject({ path: f, sha256: hex(body), from: 'file' });
    await expect(resolveImage({ ref: f, sha256: '0'.repeat(64), cache })).rejects.toThrow(`expected ${'0'.repeat(64)}, got ${hex(body)}`);
    await expect(resolveImage({ ref: join(work, 'nope.img'), cache })).rejects.toThrow(/no such file/);
  });

  it('HTTP: streamed into the cache, then served from it without a request', async () => {
    const cache = new ImageCache(join(work, 'c2'));
    const got = await resolveImage({ ref: `${base}/img`, sha256: hex(body), cache });
    expect(got.from).toBe('http');
    expect((await readFile(got.path)).equals(body)).toBe(true);
    const before = hits;
    expect((await resolveImage({ ref: `${base}/img`, sha256: hex(body), cache })).from).toBe('cache');
    expect(hits).toBe(before);
    expect((await cache.list()).map((b) => b.sha256)).toEqual([hex(body)]);
  });

  it('HTTP: a garbage collection between the response and the first read loses nothing (undici cancels the body of a collected Response)', async () => {
    // Seen once as a flaky empty download: only `res.body` was kept, and a GC while the cache made
    // its temp path collected the Response; undici's FinalizationRegistry then cancelled the unread
    // body, which read as an empty stream. Forced here: a GC, and time for the registry, at that await.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const cache = new ImageCache(join(work, 'c7'));
    const tempPath = cache.tempPath.bind(cache);
    cache.tempPath = async () => {
      for (let i = 0; i < 3; i++) {
        gc();
        await new Promise((r) => setTimeout(r, 20));
      }
      return tempPath();
    };
    const got = await resolveImage({ ref: `${base}/img`, sha256: hex(body), cache });
    expect((await readFile(got.path)).equals(body)).toBe(true);
  });

  it('HTTP: a digest mismatch leaves nothing in the cache; 404 is an error naming the URL', async () => {
    const cache = new ImageCache(join(work, 'c3'));
    await expect(resolveImage({ ref: `${base}/img`, sha256: 'a'.repeat(64), cache })).rejects.toThrow(/sha256 mismatch/);
    expect(await cache.list()).toEqual([]);
    await expect(resolveImage({ ref: `${base}/missing`, cache })).rejects.toThrow(/\/missing: HTTP 404/);
  });

  it('a corrupted cache blob is dropped and fetched again', async () => {
    const cache = new ImageCache(join(work, 'c4'));
    const got = await resolveImage({ ref: `${base}/img`, sha256: hex(body), cache });
    await writeFile(got.path, 'corrupt');
    const again = await resolveImage({ ref: `${base}/img`, sha256: hex(body), cache });
    expect(again.from).toBe('http');
    expect((await readFile(again.path)).equals(body)).toBe(true);
  });

  it('prune keeps the named digests and removes the rest', async () => {
    const cache = new ImageCache(join(work, 'c5'));
    await resolveImage({ ref: `${base}/img`, cache });
    expect((await cache.prune(new Set([hex(body)]))).removed).toEqual([]);
    const r = await cache.prune(new Set());
    expect(r).toEqual({ removed: [hex(body)], freedBytes: body.length });
    expect(await cache.list()).toEqual([]);
  });

  it('side files (block map, signatures) go with their blob, and orphans of a failed download are pruned', async () => {
    const cache = new ImageCache(join(work, 'c6'));
    await cache.putSide('e'.repeat(64), 'bmap', Buffer.from('<bmap/>'));
    expect((await cache.readSide('e'.repeat(64), 'bmap'))?.toString()).toBe('<bmap/>');
    await cache.prune(new Set(['e'.repeat(64)]));
    expect(await cache.readSide('e'.repeat(64), 'bmap')).toBeNull();
  });

  it('defer: a cached blob is returned unhashed (the burn hashes it as it writes)', async () => {
    const cache = new ImageCache(join(work, 'c7'));
    const got = await resolveImage({ ref: `${base}/img`, sha256: hex(body), cache });
    await writeFile(got.path, 'corrupt');
    const deferred = await resolveImage({ ref: `${base}/img`, sha256: hex(body), cache, defer: true });
    expect(deferred).toMatchObject({ from: 'cache', verified: false, sha256: hex(body), cached: true });
  });
});
