import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { execa } from 'execa';
import { allocationFromBmap, allocationOf } from '../ranges/allocation.js';
import { CHUNK } from '../ranges/chunk-map.js';
import { MetisError } from '../../lib/errors.js';
import { DirectReader } from './direct-read.js';
import { pacedWriter, type PacedWriter } from './writeback.js';
import { BurnAbortedError, VerifyError } from './errors.js';
import { decompressStream, detectCompression, uncompressedSize } from './source-stream.js';

/** A compressed source is decompressed while it is written: its 'writing' phase covers both. */
export type BurnPhase = 'analyzing' | 'writing' | 'verifying' | 'finished';
export interface BurnProgress {
  phase: BurnPhase;
  bytes: number;
  total: number;
}

export interface BurnOptions {
  image: string;
  target: string;
  bmap?: string;
  verify: boolean;
  onProgress?: (e: BurnProgress) => void;
  signal?: AbortSignal;
  /** Called after everything but the first MiB is on the card and synced; throwing keeps the old head (a remote burn asks the workstation here). */
  beforeHead?: () => Promise<void>;
}

export interface BurnResult {
  bytesWritten: number;
  imageSize: number;
  verified: boolean;
  durationMs: number;
}

/** Held back until everything else is on the card and synced: an interrupted burn doesn't boot. */
export const HEAD = 1024 * 1024;

export interface Written {
  offset: number;
  length: number;
  sha256: string;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function openTarget(target: string): Promise<{ fh: FileHandle; isBlock: boolean }> {
  const st = await stat(target).catch(() => null);
  const isBlock = st?.isBlockDevice() ?? false;
  // O_EXCL on a block device fails with EBUSY while any partition of it is mounted.
  const flags = isBlock ? constants.O_RDWR | constants.O_EXCL : constants.O_RDWR | constants.O_CREAT;
  return { fh: await open(target, flags, 0o644), isBlock };
}

/**
 * An image-file target must read as zeros wherever nothing is written (holes), but its first MiB
 * stays as it was until the new one is written last: cut the file back to that MiB, not to zero.
 */
async function clearKeepingHead(fh: FileHandle): Promise<void> {
  await fh.truncate(Math.min(HEAD, (await fh.stat()).size));
}

export async function burn(opts: BurnOptions): Promise<BurnResult> {
  const started = Date.now();
  const progress = opts.onProgress ?? (() => {});
  const compression = await detectCompression(opts.image);
  const { fh, isBlock } = await openTarget(opts.target);
  const out = pacedWriter(fh, isBlock);
  const written: Written[] = [];
  let imageSize = 0;
  try {
    let head: Buffer;
    if (compression === null) {
      imageSize = (await stat(opts.image)).size;
      if (!isBlock) await clearKeepingHead(fh).then(() => fh.truncate(imageSize));
      head = await writeRaw(opts, out, imageSize, written, progress);
    } else {
      if (!isBlock) await clearKeepingHead(fh);
      const r = await writeStream(opts, compression, out, isBlock, written, progress);
      head = r.head;
      imageSize = r.size;
      if (!isBlock) await fh.truncate(imageSize);
    }
    await out.drain();
    if (opts.signal?.aborted) throw new BurnAbortedError();
    await fh.sync();
    // The sync can take seconds on a slow card: an interrupt during it still keeps the old head.
    if (opts.beforeHead) await opts.beforeHead();
    if (opts.signal?.aborted) throw new BurnAbortedError();
    await fh.write(head, 0, head.length, 0);
    written.unshift({ offset: 0, length: head.length, sha256: sha(head) });
    await fh.sync();
  } finally {
    await out.drain().catch(() => {});
    await fh.close();
  }
  const bytesWritten = written.reduce((a, w) => a + w.length, 0);
  if (opts.verify) await verify(opts.target, isBlock, written, bytesWritten, progress);
  progress({ phase: 'finished', bytes: bytesWritten, total: bytesWritten });
  return { bytesWritten, imageSize, verified: opts.verify, durationMs: Date.now() - started };
}

async function writeRaw(opts: BurnOptions, out: PacedWriter, size: number, written: Written[], progress: (e: BurnProgress) => void): Promise<Buffer> {
  progress({ phase: 'analyzing', bytes: 0, total: size });
  const { map } = opts.bmap ? await allocationFromBmap(opts.bmap, size) : await allocationOf(opts.image, size);
  const runs = map.runs();
  const total = runs.reduce((a, [, l]) => a + l, 0);
  const src = await open(opts.image, 'r');
  const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
  let done = 0;
  try {
    const head = Buffer.alloc(Math.min(HEAD, size));
    await src.read(head, 0, head.length, 0);
    for (const [runOffset, runLength] of runs) {
      if (opts.signal?.aborted) throw new BurnAbortedError();
      const start = Math.max(runOffset, HEAD);
      const end = runOffset + runLength;
      if (end <= start) continue;
      const { bytesRead } = await src.read(buf, 0, end - start, start);
      const data = buf.subarray(0, bytesRead);
      await out.write(data, 0, data.length, start);
      written.push({ offset: start, length: data.length, sha256: sha(data) });
      done += data.length;
      progress({ phase: 'writing', bytes: done, total });
    }
    return head;
  } finally {
    await src.close();
  }
}

/**
 * Compressed images are streamed: nothing is known about allocation until the bytes arrive, so
 * every chunk is written — except all-zero chunks when the target is a file we just truncated,
 * where a hole already reads as zeros. On a block device zeros are written too: an unwritten
 * chunk there would keep the old card's data.
 */
async function writeStream(
  opts: BurnOptions,
  compression: 'xz' | 'gz' | 'zst',
  out: PacedWriter,
  isBlock: boolean,
  written: Written[],
  progress: (e: BurnProgress) => void,
): Promise<{ head: Buffer; size: number }> {
  const expected = await uncompressedSize(opts.image, compression);
  const total = expected ?? 0;
  // A bmap is the only allocation knowledge a stream has: chunks it leaves out are skipped even
  // on a block device (there, without a bmap, zeros must be written: the old card's bytes remain).
  const allocated = opts.bmap ? (await allocationFromBmap(opts.bmap, expected)).map : null;
  const { stream, done } = decompressStream(opts.image, compression);
  const head = Buffer.alloc(HEAD);
  let headLen = 0;
  let pos = 0;
  let pending: Buffer = Buffer.alloc(0);
  const zero = Buffer.alloc(CHUNK);

  const flushChunk = async (chunk: Buffer, at: number) => {
    if (allocated && !allocated.has(at / CHUNK)) return;
    if (!isBlock && chunk.equals(chunk.length === CHUNK ? zero : Buffer.alloc(chunk.length))) return;
    await out.write(chunk, 0, chunk.length, at);
    written.push({ offset: at, length: chunk.length, sha256: sha(chunk) });
  };

  // An error of ours (an abort, a failed write) stops the decompressor, which may then fail in its
  // own way (EPIPE, SIGPIPE): ours is the cause and wins. Only a failure of the stream itself is the image's.
  let own: unknown = null;
  try {
    for await (const piece of stream as AsyncIterable<Buffer>) {
      if (opts.signal?.aborted) {
        own = new BurnAbortedError();
        throw own;
      }
      pending = pending.length ? Buffer.concat([pending, piece]) : piece;
      let off = 0;
      while (pending.length - off >= CHUNK) {
        const chunk = pending.subarray(off, off + CHUNK);
        if (pos < HEAD) {
          chunk.copy(head, pos);
          headLen = pos + CHUNK;
        } else {
          await flushChunk(chunk, pos).catch((w: unknown) => {
            own = w;
            throw w;
          });
        }
        pos += CHUNK;
        off += CHUNK;
      }
      pending = pending.subarray(off);
      progress({ phase: 'writing', bytes: pos, total });
    }
  } catch (e) {
    stream.destroy();
    // A broken image shows up here as a stream error; `done` names it (E_DECOMPRESS).
    const failed = await done.then(() => null, (d: unknown) => d);
    throw own ?? failed ?? e;
  }
  await done;
  if (pending.length) {
    if (pos < HEAD) {
      pending.copy(head, pos);
      headLen = pos + pending.length;
    } else await flushChunk(Buffer.from(pending), pos);
    pos += pending.length;
  }
  if (allocated && pos !== allocated.size) {
    throw new MetisError('E_BMAP', `${opts.bmap}: ImageSize ${allocated.size} does not match the decompressed image (${pos} bytes)`, { file: opts.bmap, path: 'ImageSize' });
  }
  return { head: head.subarray(0, Math.min(headLen, pos)), size: pos };
}

/**
 * Reads every written range back from the target and compares hashes. A block device is read
 * with O_DIRECT, so the bytes come from the card itself and not from the page cache; an image
 * file is read back after the fsync above.
 */
async function verify(target: string, isBlock: boolean, written: Written[], total: number, progress: (e: BurnProgress) => void): Promise<void> {
  // Contiguous ranges (a stream records one per 64 KiB chunk) are read back in one large read.
  const batches = batchRanges(written, VERIFY_BATCH);
  const maxLength = batches.reduce((m, b) => Math.max(m, b.length), 0);
  const reader = isBlock ? await DirectReader.open(target, maxLength, Number((await execa('blockdev', ['--getsize64', target])).stdout)) : null;
  const fh = isBlock ? null : await open(target, 'r');
  const buf = Buffer.allocUnsafe(maxLength);
  let done = 0;
  progress({ phase: 'verifying', bytes: 0, total });
  try {
    for (const b of batches) {
      const data = reader ? await reader.read(b.offset, b.length) : buf.subarray(0, (await fh!.read(buf, 0, b.length, b.offset)).bytesRead);
      for (const w of b.ranges) {
        const actual = sha(data.subarray(w.offset - b.offset, w.offset - b.offset + w.length));
        if (actual !== w.sha256) throw new VerifyError(w.offset, w.length, w.sha256, actual);
        done += w.length;
      }
      progress({ phase: 'verifying', bytes: done, total });
    }
  } finally {
    await reader?.close();
    await fh?.close();
  }
}

const VERIFY_BATCH = 4 * 1024 * 1024;

/** Groups ranges that follow each other directly, up to `limit` bytes a group (a longer range stays alone). */
export function batchRanges(ranges: Written[], limit: number): Array<{ offset: number; length: number; ranges: Written[] }> {
  const out: Array<{ offset: number; length: number; ranges: Written[] }> = [];
  for (const r of ranges) {
    const last = out.at(-1);
    if (last && last.offset + last.length === r.offset && last.length + r.length <= limit) {
      last.length += r.length;
      last.ranges.push(r);
    } else out.push({ offset: r.offset, length: r.length, ranges: [r] });
  }
  return out;
}
