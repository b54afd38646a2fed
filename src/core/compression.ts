import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { exec, spawnStream } from './exec.js';
import { MetisError } from '../lib/errors.js';
import { xzIndex } from './xz-index.js';
import { zlib } from './zlib.js';

export type Compression = 'xz' | 'gz' | 'zst' | null;

/** By magic bytes, not by name: a renamed file is still read right. */
export async function detectCompression(path: string): Promise<Compression> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(6);
    await fh.read(b, 0, 6, 0);
    if (b.equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
    if (b[0] === 0x1f && b[1] === 0x8b) return 'gz';
    if (b.readUInt32LE(0) === 0xfd2fb528) return 'zst';
    return null;
  } finally {
    await fh.close();
  }
}

/**
 * Uncompressed size when the container records it (xz index, zstd frame header, gzip ISIZE
 * trailer), else undefined. ISIZE is the size modulo 2^32 (of the last member): it is trusted
 * only when the file is too small to expand past 4 GiB (deflate expands at most ~1032:1);
 * a larger gzip is counted by decompressing it once (unless `count: false`, e.g. for a progress total).
 */
export async function uncompressedSize(path: string, c: Compression, opts: { count?: boolean } = {}): Promise<number | undefined> {
  if (c === 'xz') {
    // The block listing a burn with a block map reads anyway (one xz run, not two); else the totals.
    const index = await xzIndex(path);
    if (index) return index.size;
    const r = await exec('xz', ['--robot', '--list', path]);
    const line = String(r.stdout).split('\n').find((l) => l.startsWith('totals'));
    const v = Number(line?.split('\t')[4]);
    return Number.isFinite(v) && v > 0 ? v : undefined;
  }
  if (c === 'zst') {
    const r = await exec('zstd', ['-lv', path]);
    const m = /Decompressed Size:.*\((\d+) B\)/.exec(String(r.stdout));
    return m ? Number(m[1]) : undefined;
  }
  if (c === 'gz') return gzipSize(path, opts.count ?? true);
  return undefined;
}

const GZIP_MAX_RATIO = 1032;

async function gzipSize(path: string, count: boolean): Promise<number | undefined> {
  const fh = await open(path, 'r');
  let compressed: number;
  let isize: number;
  try {
    compressed = (await fh.stat()).size;
    if (compressed < 18) return undefined;
    const tail = Buffer.alloc(4);
    await fh.read(tail, 0, 4, compressed - 4);
    isize = tail.readUInt32LE(0);
  } finally {
    await fh.close();
  }
  // Small enough that ISIZE cannot have wrapped around 4 GiB: it is exact (for one member).
  if (compressed * GZIP_MAX_RATIO < 2 ** 32 && isize > 0) return isize;
  return count ? countDecompressed(path) : undefined;
}

/** Decompresses and counts (gzip only): exact for any file, multi-member included. */
async function countDecompressed(path: string): Promise<number | undefined> {
  let n = 0;
  try {
    for await (const piece of createReadStream(path).pipe(zlib().createGunzip()) as AsyncIterable<Buffer>) n += piece.length;
  } catch {
    return undefined;
  }
  return n;
}

/**
 * Decompressed bytes of the image. xz and zstd run as their own processes (multi-core, and
 * faster than any JS or WASM port); gzip uses node's zlib. `input` (the file's bytes, read and
 * hashed by the caller) is fed to the decompressor; without it the decompressor reads `path`.
 */
export function decompressStream(path: string, c: Exclude<Compression, null>, input?: Readable): { stream: Readable; done: Promise<void> } {
  const failed = (e: unknown, detail: string) =>
    new MetisError('E_DECOMPRESS', `${path}: not a valid ${c} stream (${detail})`, { file: path, cause: e });
  if (c === 'gz') {
    const gunzip = zlib().createGunzip();
    const stream = (input ?? createReadStream(path)).pipe(gunzip);
    // Errors of the gunzip stream reach the reader through iteration; give them our code there.
    const done = new Promise<void>((resolve, reject) => {
      gunzip.once('end', () => resolve());
      gunzip.once('close', () => resolve());
      gunzip.once('error', (e) => reject(failed(e, e.message)));
    });
    done.catch(() => {});
    return { stream, done };
  }
  const proc = spawnStream(c === 'xz' ? 'xz' : 'zstd', ['-dc', '-T0', ...(input ? [] : [path])], input);
  let stderr = '';
  proc.stderr.on('data', (b: Buffer) => {
    if (stderr.length < 2000) stderr += b.toString();
  });
  const done = proc.done.then(
    () => undefined,
    (e: { signal?: string; message?: string }) => {
      // A burn that stops reading (abort, write error) ends the decompressor with SIGPIPE: not its fault.
      if (e.signal === 'SIGPIPE') return;
      throw failed(e, stderr.trim().split('\n').at(-1) || String(e.message));
    },
  );
  // Observed here, because an aborted burn never awaits it.
  done.catch(() => {});
  return { stream: proc.stdout, done };
}
