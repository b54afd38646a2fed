import { createHash } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describeNetError } from '../../core/net-error.js';
import { SourceError } from '../../core/source-errors.js';
import type { ImageCache } from './cache.js';
import { GrowingFile } from './growing-file.js';

export type FetchProgress = (e: { phase: 'downloading'; bytes: number; total: number }) => void;

interface DownloadOptions {
  expected?: string;
  what: string;
  total: number;
  onProgress?: FetchProgress;
  signal?: AbortSignal;
}

/** Streams a response body to a cache temp file while hashing it, then commits it (digest checked). */
export async function streamToCache(cache: ImageCache, body: ReadableStream<Uint8Array>, opts: DownloadOptions): Promise<{ path: string; sha256: string }> {
  const source = locked(body);
  const tmp = await cache.tempPath();
  const sha256 = await download(source, tmp, opts);
  return { path: await cache.commit(tmp, sha256, opts.expected, opts.what), sha256 };
}

/** A download the burn reads while it arrives; `publish` or `discard` it once the burn is done. */
export interface StreamingDownload {
  file: GrowingFile;
  /** Waits for the download; moves it into the store when its digest is the expected one (else removes it and throws). */
  publish(): Promise<string>;
  /** Stops the download if it still runs and removes the temp file. */
  discard(): Promise<void>;
}

/**
 * Starts a download into a cache temp file and returns at once: the burn reads the file as it
 * grows (one pass over the network for both the cache and the card). The entry is published
 * (renamed into the store) only by `publish`, after the whole download hashed to `expected`.
 */
export async function startStreamToCache(cache: ImageCache, body: ReadableStream<Uint8Array>, opts: DownloadOptions): Promise<StreamingDownload> {
  const source = locked(body);
  const tmp = await cache.tempPath();
  const file = new GrowingFile(tmp);
  const stop = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
  const done = download(source, tmp, { ...opts, signal }, file);
  done.then(() => file.end(), (e: unknown) => file.end(e));
  return {
    file,
    async publish() {
      const sha256 = await done;
      return cache.commit(tmp, sha256, opts.expected, opts.what);
    },
    async discard() {
      stop.abort();
      await done.catch(() => {});
      await rm(tmp, { force: true });
    },
  };
}

/**
 * The body as a node stream, its reader taken now, before the caller's first await. Callers keep
 * only `res.body`: once the Response is garbage collected, undici cancels a body nobody has locked
 * yet (its FinalizationRegistry), and a cancelled body reads as a clean, empty end of stream.
 */
function locked(body: ReadableStream<Uint8Array>): Readable {
  return Readable.fromWeb(body as import('node:stream/web').ReadableStream);
}

/**
 * The body into `tmp`, hashed on the way; the sha256. A broken download removes `tmp`, and so does
 * one that ends short of its announced length (Content-Length, or the OCI blob's size): a body cut
 * off without an error must not reach the digest check as if it were the image.
 */
async function download(source: Readable, tmp: string, opts: DownloadOptions, grow?: GrowingFile): Promise<string> {
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
    await pipeline(source, tap, fileWriter(tmp, grow), { signal: opts.signal });
    if (opts.total > 0 && bytes !== opts.total) throw new Error(`the body ended after ${bytes} of ${opts.total} bytes`);
  } catch (e) {
    await rm(tmp, { force: true });
    if (opts.signal?.aborted) throw e;
    throw new SourceError('E_FETCH', `${opts.what}: download broke off after ${bytes} bytes: ${describeNetError(e)}`, { cause: e });
  }
  opts.onProgress?.({ phase: 'downloading', bytes, total: opts.total || bytes });
  return hash.digest('hex');
}

/** Writes to a new file and tells `grow` after each write returned (a reader may then read those bytes). */
function fileWriter(path: string, grow?: GrowingFile): Writable {
  let fh: FileHandle | null = null;
  const close = async () => {
    const f = fh;
    fh = null;
    await f?.close();
  };
  return new Writable({
    construct(cb) {
      open(path, 'w').then((f) => {
        fh = f;
        cb();
      }, cb);
    },
    write(chunk: Buffer, _enc, cb) {
      writeAll(fh!, chunk).then(() => {
        grow?.grew(chunk.length);
        cb();
      }, cb);
    },
    final(cb) {
      close().then(() => cb(), cb);
    },
    destroy(err, cb) {
      close().then(() => cb(err), () => cb(err));
    },
  });
}

async function writeAll(fh: FileHandle, b: Buffer): Promise<void> {
  for (let off = 0; off < b.length; ) off += (await fh.write(b, off, b.length - off)).bytesWritten;
}
