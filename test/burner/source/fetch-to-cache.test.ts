import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageCache } from '../../../src/burner/source/cache.js';
import { streamToCache } from '../../../src/burner/source/fetch-to-cache.js';

let work = '';
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'metis-fetch-cache-'));
});
afterAll(() => rm(work, { recursive: true, force: true }));

const body = (...chunks: string[]) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      for (const x of chunks) c.enqueue(Buffer.from(x));
      c.close();
    },
  });

describe('streamToCache', () => {
  it('a body that ends cleanly short of its announced length is a broken download: nothing kept', async () => {
    const cache = new ImageCache(join(work, 'short'));
    await expect(streamToCache(cache, body('hello'), { what: 'http://x/img', total: 10 })).rejects.toThrow('http://x/img: download broke off after 5 bytes: the body ended after 5 of 10 bytes');
    expect(await cache.list()).toEqual([]);
    expect(await readdir(join(work, 'short', 'tmp'))).toEqual([]);
  });

  it('the announced length met, or none announced: kept under its digest', async () => {
    const cache = new ImageCache(join(work, 'ok'));
    const a = await streamToCache(cache, body('hel', 'lo'), { what: 'a', total: 5 });
    const b = await streamToCache(cache, body('hello!'), { what: 'b', total: 0 });
    expect((await cache.list()).map((x) => x.sha256).sort()).toEqual([a.sha256, b.sha256].sort());
  });
});
