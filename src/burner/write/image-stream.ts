import type { Readable } from 'node:stream';
import { decompressStream, uncompressedSize } from '../../core/compression.js';
import { allocationFromBmap } from '../../core/ranges/allocation.js';
import { CHUNK, type ChunkMap } from '../../core/ranges/chunk-map.js';
import { pickBlocks, xzIndex, type XzBlock, type XzIndex } from '../../core/xz-index.js';
import { type Follow, type HashingReader, hashingReader } from './hashing-reader.js';

/** The first MiB: held back by the burn and written last. */
const HEAD = 1024 * 1024;
/**
 * What the image check reads of a compressed image's head (MBR, EBR chains close by, GPT with its
 * 128 entries): the blocks holding it are always decompressed, so `head()` sees the image's own bytes.
 */
export const INSPECTED_HEAD = 2 * HEAD;

export interface ImageStreamOptions {
  image: string;
  compression: 'xz' | 'gz' | 'zst';
  bmap?: string;
  /** Decompressed size when the caller knows it already; else read from the container. */
  imageSize?: number;
  /** Every byte of the image file (compressed as stored), in order, as it is read. */
  observe?: (bytes: Buffer) => void;
  follow?: Follow;
}

/**
 * A compressed image opened for one burn: the file read (and hashed) once, in order, into one
 * decompressor — only the .xz blocks that hold mapped data when a block map is given. The image
 * check reads its head from it (`head`), the burn then everything (`chunks`), so a burn runs one
 * decompressor, not one for the check and another for the write.
 */
export interface ImageStream {
  compression: 'xz' | 'gz' | 'zst';
  /** The block listing of a multi-block .xz with a block map (null otherwise). */
  index: XzIndex | null;
  /** Decompressed size, when the caller or the container knows it. */
  expected: number | undefined;
  /** The block map's chunks (null without a map). */
  allocated: ChunkMap | null;
  /** Where the decompressed bytes go: one run from 0, or each kept block's place in the image. */
  segments: Array<{ offset: number; size: number }>;
  /** Only some blocks are decompressed. */
  picked: boolean;
  source: HashingReader;
  /** The decompressor's output (destroy it to stop the burn). */
  stream: Readable;
  /** Settles when the decompressor exits; rejects with E_DECOMPRESS for a stream it refused. */
  done: Promise<void>;
  /** The first `n` decompressed bytes (fewer for a shorter image), read ahead: `chunks` yields them again. */
  head(n: number): Promise<Buffer>;
  /** Every decompressed byte in order, what `head` read first. */
  chunks(): AsyncIterable<Buffer>;
  /** Stops the decompressor and the file's reader (idempotent); waits for the decompressor to exit. */
  close(): Promise<void>;
}

export async function openImageStream(opts: ImageStreamOptions): Promise<ImageStream> {
  const { compression } = opts;
  // A multi-block .xz with a block map: only the blocks holding mapped data are decompressed.
  const index = compression === 'xz' && opts.bmap && !opts.follow ? await xzIndex(opts.image) : null;
  // A file still arriving has no end to read the container's size from yet.
  const expected = opts.imageSize ?? index?.size ?? (opts.follow ? undefined : await uncompressedSize(opts.image, compression, { count: false }));
  // A bmap is the only allocation knowledge a stream has.
  const allocated = opts.bmap ? (await allocationFromBmap(opts.bmap, expected)).map : null;
  const picked = index && allocated ? pickedBlocks(index, allocated) : null;
  const segments = picked ? mergeBlocks(picked) : [{ offset: 0, size: Infinity }];
  const source = hashingReader(opts.image, opts.observe, opts.follow);
  const input = picked ? source.stream.pipe(pickBlocks(picked)) : source.stream;
  if (picked) source.stream.on('error', (e: Error) => input.destroy(e));
  const { stream, done } = decompressStream(opts.image, compression, input);
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const ahead: Buffer[] = [];
  let aheadBytes = 0;
  let ended = false;
  return {
    compression,
    index,
    expected,
    allocated,
    segments,
    picked: picked !== null,
    source,
    stream,
    done,
    async head(want) {
      // Picked blocks: only the first run is the image from byte 0 (it holds at least INSPECTED_HEAD).
      const n = Math.min(want, segments[0]!.size);
      try {
        while (aheadBytes < n && !ended) {
          const r = await it.next();
          if (r.done) ended = true;
          else {
            ahead.push(r.value);
            aheadBytes += r.value.length;
          }
        }
      } catch (e) {
        // A broken image shows up as a stream error; `done` names it (E_DECOMPRESS).
        throw await done.then(() => e, (d: unknown) => d);
      }
      // A short image: the decompressor's verdict on it comes first.
      if (ended) await done;
      return Buffer.concat(ahead).subarray(0, n);
    },
    async *chunks() {
      while (ahead.length) yield ahead.shift()!;
      if (ended) return;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    },
    async close() {
      stream.destroy();
      source.stream.destroy();
      input.destroy();
      await done.catch(() => {});
    },
  };
}

/**
 * The blocks to decompress: every block with a mapped chunk, and those holding the image's first
 * INSPECTED_HEAD bytes (the head, written last, is always the image's own, and the image check
 * reads the partition table from them). The rest hold nothing the card gets.
 */
export function neededBlocks(index: XzIndex, map: { has(chunk: number): boolean }): XzBlock[] {
  return index.blocks.filter((b) => {
    if (b.imageOffset < INSPECTED_HEAD) return true;
    const end = Math.ceil((b.imageOffset + b.imageSize) / CHUNK);
    for (let c = Math.floor(b.imageOffset / CHUNK); c < end; c++) if (map.has(c)) return true;
    return false;
  });
}

/**
 * The blocks to decompress, or null when every block is needed (nothing to gain) or a run of kept
 * blocks would start inside a chunk (the writer places data by whole chunks): then the whole file.
 */
function pickedBlocks(index: XzIndex, map: { has(chunk: number): boolean }): XzBlock[] | null {
  const keep = neededBlocks(index, map);
  if (keep.length === index.blocks.length) return null;
  return mergeBlocks(keep).every((r) => r.offset % CHUNK === 0) ? keep : null;
}

/** Kept blocks that follow each other in the image, as runs of image bytes. */
function mergeBlocks(keep: readonly XzBlock[]): Array<{ offset: number; size: number }> {
  const out: Array<{ offset: number; size: number }> = [];
  for (const b of keep) {
    const last = out.at(-1);
    if (last && last.offset + last.size === b.imageOffset) last.size += b.imageSize;
    else out.push({ offset: b.imageOffset, size: b.imageSize });
  }
  return out;
}
