import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describeNetError } from '../../core/net-error.js';
import { SourceError } from '../../core/source-errors.js';
import type { ImageCache } from './cache.js';

export type FetchProgress = (e: { phase: 'downloading'; bytes: number; total: number }) => void;

/** Streams a response body to a cache temp file while hashing it, then commits it (digest checked). */
export async function streamToCache(
  cache: ImageCache,
  body: ReadableStream<Uint8Array>,
  opts: { expected?: string; what: string; total: number; onProgress?: FetchProgress; signal?: AbortSignal },
): Promise<{ path: string; sha256: string }> {
  const tmp = await cache.tempPath();
  const hash = createHash('sha256');
  let bytes = 0;
  let last = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      if (opts.onProgress && bytes - last >= 8 << 20) {
        last = bytes;
        opts.onProgress({ phase: 'downloading', bytes, total: opts.total });
      }
      cb(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(body as import('node:stream/web').ReadableStream), tap, createWriteStream(tmp), { signal: opts.signal });
  } catch (e) {
    await rm(tmp, { force: true });
    if (opts.signal?.aborted) throw e;
    throw new SourceError('E_FETCH', `${opts.what}: download broke off after ${bytes} bytes: ${describeNetError(e)}`, { cause: e });
  }
  opts.onProgress?.({ phase: 'downloading', bytes, total: opts.total || bytes });
  const sha256 = hash.digest('hex');
  return { path: await cache.commit(tmp, sha256, opts.expected, opts.what), sha256 };
}
