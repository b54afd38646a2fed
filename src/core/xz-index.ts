import { stat } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { exec } from './exec.js';

/**
 * An .xz file's blocks, as its index records them (`xz --robot --list -vv`). A multi-block file (what
 * `xz -T0` writes) can be decompressed block by block: a burn with a block map decompresses only the
 * blocks that hold mapped data, and the rest (free space, mostly zeros) never goes through the
 * decompressor or the pipe. Format facts: the .xz file format 1.1.0 (tukaani.org), sections 2–4.
 */
export interface XzBlock {
  /** Offset of the block (its header) in the file, and its size with padding. */
  fileOffset: number;
  fileSize: number;
  /** Block header + compressed data + check: the index's "Unpadded Size". */
  unpadded: number;
  /** Where its data starts in the decompressed image, and how much there is. */
  imageOffset: number;
  imageSize: number;
}

export interface XzIndex {
  blocks: XzBlock[];
  /** Size of the decompressed image. */
  size: number;
}

const CHECK_SIZE: Record<string, number> = { None: 0, CRC32: 4, CRC64: 8, 'SHA-256': 32 };
const HEADER = 12;

/**
 * The blocks of a single-stream .xz file, or null when it is not one xz can list that way
 * (several streams, stream padding, an unknown check, an unreadable index): callers then decompress
 * the whole file, and a damaged file fails there with the decompressor's own error.
 */
export async function xzIndex(path: string): Promise<XzIndex | null> {
  // A burn reads it twice (its size when the image is inspected, its blocks when written): the
  // second time from here, while the file is the same one, unchanged.
  const st = await stat(path).catch(() => null);
  if (!st) return listIndex(path);
  const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
  const hit = listed.get(path);
  if (hit?.key === key) return hit.index;
  const index = listIndex(path);
  listed.set(path, { key, index });
  return index;
}

const listed = new Map<string, { key: string; index: Promise<XzIndex | null> }>();

async function listIndex(path: string): Promise<XzIndex | null> {
  let out: string;
  try {
    out = String((await exec('xz', ['--robot', '--list', '-vv', path])).stdout);
  } catch {
    return null;
  }
  const rows = out.split('\n').map((l) => l.split('\t'));
  const streams = rows.filter((r) => r[0] === 'stream');
  if (streams.length !== 1 || Number(streams[0]![9] ?? 0) !== 0) return null;
  const blocks: XzBlock[] = [];
  for (const r of rows.filter((x) => x[0] === 'block')) {
    const check = CHECK_SIZE[r[9] ?? ''];
    const [fileOffset, imageOffset, fileSize, imageSize, headerSize, dataSize] = [r[4], r[5], r[6], r[7], r[11], r[13]].map(Number);
    if (check === undefined || ![fileOffset, imageOffset, fileSize, imageSize, headerSize, dataSize].every((n) => Number.isSafeInteger(n) && n! >= 0)) return null;
    blocks.push({ fileOffset: fileOffset!, fileSize: fileSize!, unpadded: headerSize! + dataSize! + check, imageOffset: imageOffset!, imageSize: imageSize! });
  }
  const size = Number(streams[0]![6]);
  if (!blocks.length || !Number.isSafeInteger(size)) return null;
  // Contiguous, in order, and covering the image: anything else is not a file this reads right.
  let file = HEADER;
  let image = 0;
  for (const b of blocks) {
    if (b.fileOffset !== file || b.imageOffset !== image || b.fileSize !== b.unpadded + ((4 - (b.unpadded % 4)) % 4)) return null;
    file += b.fileSize;
    image += b.imageSize;
  }
  return image === size ? { blocks, size } : null;
}

/** The xz multibyte integer: 7 bits per byte, least significant first. */
function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

let table: Uint32Array | undefined;
/** CRC32 (IEEE, as .xz uses): node 18/20 have no zlib.crc32. */
export function crc32(b: Buffer): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[i] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (const x of b) c = table[(c ^ x) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Index (records of `blocks`) and stream footer closing a stream that holds exactly those blocks. */
export function indexAndFooter(blocks: readonly XzBlock[], streamFlags: Buffer): Buffer {
  const body = [0x00, ...varint(blocks.length)];
  for (const b of blocks) body.push(...varint(b.unpadded), ...varint(b.imageSize));
  while (body.length % 4) body.push(0);
  const index = Buffer.from(body);
  const indexCrc = Buffer.alloc(4);
  indexCrc.writeUInt32LE(crc32(index));
  const footer = Buffer.alloc(12);
  footer.writeUInt32LE((index.length + 4) / 4 - 1, 4);
  streamFlags.copy(footer, 8, 0, 2);
  footer.writeUInt32LE(crc32(footer.subarray(4, 10)), 0);
  footer.write('YZ', 10, 'latin1');
  return Buffer.concat([index, indexCrc, footer]);
}

/**
 * Fed the whole .xz file in order, passes on a valid .xz stream holding only `keep` (blocks of
 * `index`, in order): the file's stream header, those blocks' bytes as they go by, then an index and
 * footer for them. `xz -dc` checks every kept block's own integrity check as usual.
 */
export function pickBlocks(keep: readonly XzBlock[]): Transform {
  const ranges: Array<[number, number]> = [[0, HEADER], ...keep.map((b): [number, number] => [b.fileOffset, b.fileOffset + b.fileSize])];
  const header = Buffer.alloc(HEADER);
  let at = 0;
  let r = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      const end = at + chunk.length;
      if (at < HEADER) chunk.copy(header, at, 0, Math.min(chunk.length, HEADER - at));
      while (r < ranges.length && ranges[r]![0] < end) {
        const [from, to] = ranges[r]!;
        const a = Math.max(from, at);
        const b = Math.min(to, end);
        if (b > a) this.push(chunk.subarray(a - at, b - at));
        if (to > end) break;
        r++;
      }
      at = end;
      cb();
    },
    flush(cb) {
      // Short input (a file cut off): let the decompressor find the stream incomplete.
      if (r < ranges.length) return cb();
      cb(null, indexAndFooter(keep, header.subarray(6, 8)));
    },
  });
}
