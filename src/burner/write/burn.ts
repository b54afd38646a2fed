import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, stat, unlink, type FileHandle } from 'node:fs/promises';
import { allocationFromBmap, allocationOf } from '../../core/ranges/allocation.js';
import { CHUNK, ChunkMap } from '../../core/ranges/chunk-map.js';
import { MetisError } from '../../lib/errors.js';
import { deviceBytes } from '../safety/block-sysfs.js';
import { DirectReader } from './direct-read.js';
import { headOverlay } from './head-overlay.js';
import { type UndoableIo, undoLog } from './undo-log.js';
import type { BlockIo } from '../fat/volume.js';
import { cacheEvictor } from './page-cache.js';
import { pacedWriter } from './writeback.js';
import { BurnAbortedError, CorruptImageError, ImageChangedError, VerifyError } from './errors.js';
import { fileRangeReader, RangeVerifier, VERIFY_BATCH } from './verify.js';
import { detectCompression } from '../../core/compression.js';
import type { Follow, HashingReader } from './hashing-reader.js';
import { type ImageStream, openImageStream } from './image-stream.js';

export { neededBlocks } from './image-stream.js';

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
  /** Decompressed size when the caller knows it already (the pipeline measured it); else read from the container. */
  imageSize?: number;
  verify: boolean;
  onProgress?: (e: BurnProgress) => void;
  signal?: AbortSignal;
  /** Mode of an image-file target (created with it, or taken down to it before writing); default 0644. */
  fileMode?: number;
  /** Every byte of the image file (compressed as stored), in order, as it is read to be written. */
  observe?: (bytes: Buffer) => void;
  /**
   * The gate before the card becomes bootable, with the sha256 of the bytes that were written:
   * awaited once every byte is read and written (without a read-back, while the last flush reaches
   * the card; with one, after it passed), always before the sync ahead of the first MiB. A throw
   * wipes the first MiB instead.
   */
  beforeCommit?: (source: { sha256: string; bytes: number }) => Promise<void> | void;
  /**
   * The card's own bytes (the node's manifest into its FAT partition), after the gate passed and
   * before the first MiB: written through `card` (the head still in memory below 1 MiB, the card
   * above) and synced with the last sync ahead of the head, so the card only becomes bootable
   * whole. A throw leaves no partition table (the first MiB is wiped) and is rethrown as it is.
   */
  inject?: (card: BlockIo, source: { sha256: string; bytes: number }) => Promise<void>;
  /**
   * Work that may run while the last flush reaches a card (the CPU is idle then, for up to ~1 s at
   * card speed): the pipeline rehearses its manifest injection on the image's own bytes, so the
   * real one after the gate runs on warm code. Only on a block device with a read-back (without
   * one the real injection itself runs in that time); it must not touch the target,
   * and its failure is ignored (the real step reports).
   */
  whileDraining?: () => Promise<void>;
  /** Called after everything but the first MiB is on the card and synced; throwing keeps the old head (a remote burn asks the workstation here). */
  beforeHead?: () => Promise<void>;
  /**
   * `image` is still being downloaded (a cold registry pull): read as it grows. Its decompressed
   * size comes from `imageSize` only; a download that breaks off fails the burn with its error.
   */
  follow?: Follow;
  /**
   * A compressed `image` already opened (image-stream.ts: the image check read its head from it):
   * the burn reads on from there, with its options (`observe`, `bmap`, `follow`), instead of
   * opening the image again. The caller closes it (a no-op once the burn read it through).
   */
  opened?: ImageStream;
}

export interface BurnResult {
  /** sha256 of the image file as read for writing (the compressed file for a compressed image). */
  sha256: string;
  bytesWritten: number;
  imageSize: number;
  verified: boolean;
  durationMs: number;
  /** A compressed image: bytes the decompressor produced (less than imageSize when only the .xz blocks holding mapped data were decompressed). */
  decompressed?: number;
}

/** Held back until everything else is on the card and synced: an interrupted burn doesn't boot. */
export const HEAD = 1024 * 1024;

export { batchRanges, type Written } from './verify.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Where the image's ranges go: the card, and (verify) the read-back that follows them. */
interface Sink {
  write(piece: Buffer, at: number): Promise<void>;
  /** The bytes the body will write, when known (see writeback.ts: the read-back's tail). */
  expect(total: number): void;
  /** A source block's writes are done: the card gets them now if it is idle (writeback.ts). */
  kick(): void;
}

async function openTarget(target: string, mode = 0o644): Promise<{ fh: FileHandle; isBlock: boolean; created: boolean }> {
  const st = await stat(target).catch(() => null);
  const isBlock = st?.isBlockDevice() ?? false;
  // O_EXCL on a block device fails with EBUSY while any partition of it is mounted.
  const flags = isBlock ? constants.O_RDWR | constants.O_EXCL : constants.O_RDWR | constants.O_CREAT;
  const fh = await open(target, flags, mode);
  // An existing image file takes the mode too, before a byte goes in (a card image holds the join token).
  if (!isBlock && st !== null) await fh.chmod(mode);
  return { fh, isBlock, created: st === null };
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
  if (!opts.opened) await opts.follow?.until(6);
  const compression = opts.opened ? opts.opened.compression : await detectCompression(opts.image);
  // Only compressed files are streamed (in order, to a decompressor): a raw one is analysed whole first.
  if (compression === null) await opts.follow?.complete;
  const { fh, isBlock, created } = await openTarget(opts.target, opts.fileMode);
  // The read-back runs beside the write (see verify.ts): its progress is shown once writing ends.
  let tail = false;
  let bytesWritten = 0;
  let verifier: RangeVerifier | null = null;
  try {
    if (opts.verify) verifier = new RangeVerifier(await openReader(opts.target, isBlock), (v) => tail && progress({ phase: 'verifying', bytes: v, total: bytesWritten }));
  } catch (e) {
    await fh.close();
    if (created) await unlink(opts.target).catch(() => {});
    throw e;
  }
  // A card's written pages leave the page cache beside the burn, not all at its close (page-cache.ts).
  const out = pacedWriter(fh, isBlock, verifier ?? undefined, isBlock ? cacheEvictor(fh.fd) : undefined);
  const sink: Sink = {
    async write(piece, at) {
      // A mismatch found meanwhile stops the burn here; the wait only happens if the read-back lags.
      await verifier?.room();
      await out.write(piece, 0, piece.length, at);
      bytesWritten += piece.length;
      // A written range's own hash is only for the read-back: --no-verify doesn't pay for it.
      verifier?.add({ offset: at, length: piece.length, sha256: sha(piece) });
    },
    expect: (total) => out.expect(total),
    kick: () => out.kick(),
  };
  let imageSize = 0;
  let sha256 = '';
  // Spans of the held-back first MiB the injection wrote (a FAT partition that starts inside it).
  const touched: Array<[number, number]> = [];
  // The injection's writes, kept to be undone if the burn then fails (see undo-log.ts).
  let injected: UndoableIo | null = null;
  let decompressed: number | undefined;
  try {
    let head: Buffer;
    let sourceBytes: number;
    // Which chunks of the first MiB the image maps (a bmap, or the raw file's allocation): on a card
    // only those go down with the table, as for every other range (a file target takes it whole).
    let mapped: ((chunk: number) => boolean) | undefined;
    if (compression === null) {
      imageSize = (await stat(opts.image)).size;
      if (!isBlock) await clearKeepingHead(fh).then(() => fh.truncate(imageSize));
      ({ head, sha256, mapped } = await writeRaw(opts, sink, imageSize, progress));
      sourceBytes = imageSize;
    } else {
      if (!isBlock) await clearKeepingHead(fh);
      const r = await writeStream(opts, compression, sink, isBlock, progress);
      ({ head, sha256, sourceBytes, decompressed, mapped } = r);
      imageSize = r.size;
      if (!isBlock) await fh.truncate(imageSize);
    }
    const commit = async () => {
      await opts.beforeCommit?.({ sha256, bytes: sourceBytes });
      if (!opts.inject) return;
      const card = undoLog(headOverlay(fh, head, (at, n) => touched.push([at, n])));
      injected = card;
      await opts.inject(card, { sha256, bytes: sourceBytes });
    };
    // Without a read-back nothing waits on the written ranges: the gate and the manifest's injection
    // run while the last flush reaches the card (up to ~1 s at card speed), and the sync below
    // covers them with the image's bytes. With one, the injection would change sectors the read-back
    // has still to compare, so it waits for the read-back (and the drain is used to warm its code).
    const early = verifier ? null : settle(commit());
    const [drained, committed] = await Promise.all([settle(out.drain()), early, verifier && isBlock && opts.whileDraining?.().catch(() => {})]);
    if (drained.error) throw drained.error;
    if (committed?.error) {
      // Everything but the first MiB now holds bytes that failed their check (or a half-written
      // manifest): make sure nothing of the card boots (the old table would point at half-new partitions).
      await wipeHead(fh);
      throw committed.error;
    }
    if (opts.signal?.aborted) throw new BurnAbortedError();
    await fh.sync();
    if (verifier) {
      try {
        // Every range must read back right before the card may boot.
        tail = true;
        progress({ phase: 'verifying', bytes: verifier.verifiedBytes, total: bytesWritten });
        await verifier.finish();
        await commit();
        if (opts.inject) await fh.sync();
      } catch (refused) {
        // As above: bytes that failed their check, or a half-written manifest, must not boot.
        await wipeHead(fh);
        throw refused;
      }
    }
    // The sync can take seconds on a slow card: an interrupt during it still keeps the old head.
    if (opts.signal?.aborted) throw new BurnAbortedError();
    // A remote burn asks the workstation here; a refusal keeps the old head.
    if (opts.beforeHead) await opts.beforeHead();
    if (opts.signal?.aborted) throw new BurnAbortedError();
    const headRuns = isBlock && mapped ? headRanges(head.length, mapped, touched) : [[0, head.length] as [number, number]];
    for (const [at, n] of headRuns) await fh.write(head, at, n, at);
    await fh.sync();
    for (const [, n] of headRuns) bytesWritten += n;
    if (verifier) {
      for (const [at, n] of headRuns) verifier.add({ offset: at, length: n, sha256: sha(head.subarray(at, at + n)) });
      await verifier.finish().catch(async (e: unknown) => {
        await wipeHead(fh);
        throw e;
      });
    }
  } catch (e) {
    let err = e;
    if (opts.follow?.failed && !opts.signal?.aborted && !(e instanceof BurnAbortedError)) {
      // The download broke off: the bytes on the card are an image's beginning, and must not boot.
      err = opts.follow.failed;
      await out.drain().catch(() => {});
      await wipeHead(fh).catch(() => {});
    } else if (e instanceof VerifyError) {
      // Found while writing: the card holds bytes it did not take right, and must not boot.
      await out.drain().catch(() => {});
      await wipeHead(fh).catch(() => {});
    } else if (e instanceof CorruptImageError) {
      // Bytes of a broken image reached the card: it must not boot. A digest or signature the
      // whole file fails explains the breakage better than the decompressor does.
      await out.drain().catch(() => {});
      await wipeHead(fh).catch(() => {});
      const src = e.source;
      if (src) err = await Promise.resolve(opts.beforeCommit?.(src)).then(() => e, (g: unknown) => g);
    }
    // The node's manifest (with its join token) does not stay on a card that did not become the node.
    if (injected && !created) {
      await out.drain().catch(() => {});
      await injected.undo().then(() => fh.sync()).catch(() => {});
    }
    // An image file this burn created and could not finish is not left behind.
    if (created) await unlink(opts.target).catch(() => {});
    throw err;
  } finally {
    await out.drain().catch(() => {});
    await verifier?.close().catch(() => {});
    await fh.close();
  }
  progress({ phase: 'finished', bytes: bytesWritten, total: bytesWritten });
  return { sha256, bytesWritten, imageSize, verified: opts.verify, durationMs: Date.now() - started, ...(decompressed !== undefined ? { decompressed } : {}) };
}

/** Always written: MBR, or protective MBR + GPT header and its 128 entries (LBA 0–33), whatever a block map says. */
const TABLE_BYTES = 64 * 1024;

/**
 * The runs of the first MiB a card gets: the partition table's sectors always, then every chunk
 * the image maps or the injection wrote, merged.
 */
export function headRanges(length: number, mapped: (chunk: number) => boolean, touched: Array<[number, number]>): Array<[number, number]> {
  const keep = new ChunkMap(length);
  keep.mark(0, TABLE_BYTES);
  for (let c = 0; c < keep.bits.length; c++) if (mapped(c)) keep.bits[c] = 1;
  for (const [at, n] of touched) keep.mark(at, n);
  return keep.runs();
}

/**
 * The read-back: a block device with O_DIRECT, so the bytes come from the card itself and not
 * from the page cache; an image file through a descriptor of its own.
 */
async function openReader(target: string, isBlock: boolean) {
  if (!isBlock) return fileRangeReader(target);
  return DirectReader.open(target, VERIFY_BATCH, await deviceBytes(target));
}

/** A promise's outcome as a value: two steps run side by side, and neither's failure is left unobserved. */
function settle(p: Promise<unknown>): Promise<{ error?: unknown }> {
  return p.then(
    () => ({}),
    (error: unknown) => ({ error: error ?? new Error('rejected') }),
  );
}

async function wipeHead(fh: FileHandle): Promise<void> {
  await fh.write(Buffer.alloc(HEAD), 0, HEAD, 0);
  await fh.sync();
}

/** Source blocks: large sequential reads, each hashed and then written where allocated. */
const BLOCK = 4 * 1024 * 1024;
/** A stream's staging buffer: a whole number of chunks, small enough that the decompressor rarely waits on a write. */
const STAGE = 1024 * 1024;

/**
 * The whole image is read once, in order: every byte is hashed (the digest the gate checks is of
 * the bytes written, not of an earlier read), and only the allocated chunks go to the card.
 */
async function writeRaw(opts: BurnOptions, sink: Sink, size: number, progress: (e: BurnProgress) => void): Promise<{ head: Buffer; sha256: string; mapped: (chunk: number) => boolean }> {
  progress({ phase: 'analyzing', bytes: 0, total: size });
  const { map } = opts.bmap ? await allocationFromBmap(opts.bmap, size) : await allocationOf(opts.image, size);
  const total = map.markedBytes;
  sink.expect(total);
  const src = await open(opts.image, 'r');
  const buf = Buffer.allocUnsafe(BLOCK);
  const hash = createHash('sha256');
  // Filled whole by the first read (uninitialised until then: no zeroing pass over it).
  const head = Buffer.allocUnsafe(Math.min(HEAD, size));
  let done = 0;
  try {
    for (let pos = 0, len = 0; pos < size; pos += len) {
      if (opts.signal?.aborted) throw new BurnAbortedError();
      // The first MiB is read straight into `head`, the next one alone, then whole blocks: the card's
      // first write waits for one MiB of `buf`, not four (each page of a fresh buffer costs a fault
      // on its first touch, 16 ms for 4 MiB on the bench machine; the rest fault while the card writes).
      len = Math.min(pos < HEAD ? HEAD : pos < 2 * HEAD ? 2 * HEAD - pos : BLOCK, size - pos);
      const into = pos < HEAD ? head : buf;
      const data = into.subarray(0, len);
      let got = 0;
      while (got < len) {
        const { bytesRead } = await src.read(into, got, len - got, pos + got);
        if (bytesRead === 0) throw new ImageChangedError(opts.image, `it ended at ${pos + got} bytes while being written (${size} expected)`);
        got += bytesRead;
      }
      // Allocated chunks of this block, merged into runs; the first MiB waits for the commit.
      const first = Math.max(pos, HEAD) / CHUNK;
      const stop = Math.ceil((pos + len) / CHUNK);
      for (let c = first; c < stop; ) {
        if (!map.has(c)) {
          c++;
          continue;
        }
        let e = c;
        while (e < stop && map.has(e)) e++;
        const from = c * CHUNK;
        const to = Math.min(e * CHUNK, pos + len);
        const piece = data.subarray(from - pos, to - pos);
        await sink.write(piece, from);
        done += piece.length;
        c = e;
      }
      // The block goes to the card before it is hashed (the hash, for the gate before the head, covers
      // the same bytes either way): the first flush starts ~10 ms sooner, and the card idles less.
      sink.kick();
      hash.update(data);
      opts.observe?.(data);
      progress({ phase: 'writing', bytes: done, total });
    }
    if ((await src.stat()).size !== size) throw new ImageChangedError(opts.image, `its size changed from ${size} bytes while being written`);
    return { head, sha256: hash.digest('hex'), mapped: (c) => map.has(c) };
  } finally {
    await src.close();
  }
}

/**
 * Compressed images are streamed: the file is read (and hashed) here and fed to the decompressor.
 * Without a bmap nothing is known about allocation until the bytes arrive, so every chunk is
 * written — except all-zero chunks when the target is a file we just truncated, where a hole
 * already reads as zeros. On a block device zeros are written too: an unwritten chunk there would
 * keep the old card's data.
 */
async function writeStream(
  opts: BurnOptions,
  compression: 'xz' | 'gz' | 'zst',
  sink: Sink,
  isBlock: boolean,
  progress: (e: BurnProgress) => void,
): Promise<{ head: Buffer; size: number; sha256: string; sourceBytes: number; decompressed: number; mapped?: (chunk: number) => boolean }> {
  const opened = opts.opened ?? (await openImageStream({ image: opts.image, compression, bmap: opts.bmap, imageSize: opts.imageSize, observe: opts.observe, follow: opts.follow }));
  const { index, allocated, segments, source, stream, done } = opened;
  const total = opts.imageSize ?? opened.expected ?? 0;
  // A bmap is the only allocation knowledge a stream has: chunks it leaves out are skipped even
  // on a block device (there, without a bmap, zeros must be written: the old card's bytes remain).
  if (allocated) sink.expect(allocated.markedBytes);
  const picked = opened.picked;
  const head = Buffer.alloc(HEAD);
  let headLen = 0;
  // The decompressed bytes are gathered in one reused staging buffer (STAGE, a whole number of
  // chunks) and written from it in runs: no per-piece allocation or concatenation (1 GiB through a
  // pipe in ≤ 64 KiB pieces made the garbage collector the burn's biggest cost), fewer, larger writes.
  // A sink write has returned before the buffer is reused (the paced writer's pwrite is done).
  const stage = Buffer.allocUnsafe(STAGE);
  let fill = 0;
  let pos = 0; // image offset of stage[0]
  const zero = Buffer.alloc(CHUNK);
  const keep = (data: Buffer, c: number, from: number): boolean => {
    if (allocated) return allocated.has(c);
    if (isBlock) return true;
    const chunk = data.subarray(from, from + CHUNK);
    return !chunk.equals(chunk.length === CHUNK ? zero : zero.subarray(0, chunk.length));
  };
  const flushStage = async () => {
    const data = stage.subarray(0, fill);
    if (pos < HEAD) {
      data.copy(head, pos, 0, Math.min(fill, HEAD - pos));
      headLen = Math.min(HEAD, pos + fill);
    }
    // Chunks past the first MiB (it waits for the commit), merged into runs of kept chunks.
    const stop = Math.ceil((pos + fill) / CHUNK);
    for (let c = Math.max(pos, HEAD) / CHUNK; c < stop; ) {
      if (!keep(data, c, c * CHUNK - pos)) {
        c++;
        continue;
      }
      let e = c + 1;
      while (e < stop && keep(data, e, e * CHUNK - pos)) e++;
      const from = c * CHUNK;
      await sink.write(data.subarray(from - pos, Math.min(e * CHUNK, pos + fill) - pos), from);
      c = e;
    }
    pos += fill;
    fill = 0;
  };

  // An error of ours (an abort, a failed write) stops the decompressor, which may then fail in its
  // own way (EPIPE, SIGPIPE): ours is the cause and wins. Only a failure of the stream itself is the image's.
  let own: unknown = null;
  let seg = 0;
  let segLeft = segments[0]!.size;
  let decompressed = 0;
  try {
    for await (const piece of opened.chunks()) {
      if (opts.signal?.aborted) {
        own = new BurnAbortedError();
        throw own;
      }
      decompressed += piece.length;
      for (let off = 0; off < piece.length; ) {
        if (segLeft === 0) throw new MetisError('E_DECOMPRESS', `${opts.image}: more data than its index records`, { file: opts.image });
        const n = piece.copy(stage, fill, off, Math.min(piece.length, off + STAGE - fill, off + segLeft));
        fill += n;
        off += n;
        segLeft -= n;
        if (fill === STAGE || segLeft === 0) {
          await flushStage().catch((w: unknown) => {
            own = w;
            throw w;
          });
          progress({ phase: 'writing', bytes: pos, total });
        }
        // The next kept block's data starts at its own place in the image.
        if (segLeft === 0 && seg + 1 < segments.length) {
          seg++;
          pos = segments[seg]!.offset;
          segLeft = segments[seg]!.size;
        }
      }
    }
  } catch (e) {
    stream.destroy();
    source.stream.destroy();
    // A broken image shows up here as a stream error; `done` names it (E_DECOMPRESS).
    const failed = await done.then(() => null, (d: unknown) => d);
    throw await corrupt(own ?? failed ?? e, source, opts);
  }
  await done.catch(async (e: unknown) => {
    throw await corrupt(e, source, opts);
  });
  // The decompressor may stop before the end of the file (trailing bytes): the digest must cover it all.
  const { sha256, bytes: sourceBytes } = await source.finish();
  if (fill) await flushStage();
  progress({ phase: 'writing', bytes: pos, total });
  if (picked && (seg !== segments.length - 1 || segLeft !== 0)) {
    throw new MetisError('E_DECOMPRESS', `${opts.image}: the decompressor ended before the blocks its index records`, { file: opts.image });
  }
  if (picked) pos = index!.size;
  if (allocated && pos !== allocated.size) {
    throw new MetisError('E_BMAP', `${opts.bmap}: ImageSize ${allocated.size} does not match the decompressed image (${pos} bytes)`, { file: opts.bmap, path: 'ImageSize' });
  }
  return { head: head.subarray(0, Math.min(headLen, pos)), size: pos, sha256, sourceBytes, decompressed, ...(allocated ? { mapped: (c: number) => allocated.has(c) } : {}) };
}

/**
 * A stream the decompressor rejects: the write-failure error, carrying the digest of the whole
 * file, so the gate can say when the bytes are not the expected or signed ones (the likelier story).
 */
async function corrupt(e: unknown, source: HashingReader, opts: BurnOptions): Promise<unknown> {
  if (!(e instanceof MetisError && e.code === 'E_DECOMPRESS')) return e;
  // A download that stopped (interrupted, broken off) ends the decompressor's input early: not the image's fault.
  if (opts.signal?.aborted) return new BurnAbortedError();
  if (opts.follow?.failed) return opts.follow.failed;
  const c = new CorruptImageError(e);
  c.source = await source.finish().catch(() => undefined);
  return c;
}
