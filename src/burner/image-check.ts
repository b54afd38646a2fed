import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Compression, detectCompression, uncompressedSize } from '../core/compression.js';
import { type Partition, readPartitionTable } from '../core/partition-table.js';
import { MetisError } from '../lib/errors.js';
import { allocationFromBmap } from '../core/ranges/allocation.js';
import type { Follow } from './write/hashing-reader.js';
import { INSPECTED_HEAD, openImageStream } from './write/image-stream.js';

export interface ImageFacts {
  compression: Compression;
  /** Bytes the card receives (the decompressed size); undefined when a compressed file does not record it. */
  size: number | undefined;
  /** The last byte any partition reaches. */
  tableEnd: number;
  /** The image's partitions: the card's once its first MiB is written (the manifest goes into the FAT one before that). */
  partitions: Partition[];
}

class ImageError extends MetisError {}

/**
 * The first bytes of a compressed image (INSPECTED_HEAD: MBR, EBR chains close by, GPT with its 128
 * entries) in a temp file partitioninfo can read: from the burn's own stream (`given`), else from
 * one opened here for the check alone.
 */
async function withHead<T>(path: string, c: Exclude<Compression, null>, use: (file: string) => Promise<T>, follow?: Follow, given?: (bytes: number) => Promise<Buffer>): Promise<T> {
  const own = given ? undefined : await openImageStream({ image: path, compression: c, follow });
  try {
    const bytes = await (given ?? ((n: number) => own!.head(n)))(INSPECTED_HEAD);
    const dir = await mkdtemp(join(tmpdir(), 'metis-head-'));
    try {
      const file = join(dir, 'head.img');
      await writeFile(file, bytes);
      return await use(file);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  } finally {
    await own?.close();
  }
}

/**
 * What the burn needs to know about an image before it touches the target, each a refusal when
 * wrong: a partition table, one that ends inside the image (a truncated copy — an interrupted scp
 * — has a table pointing past its own end and writes a card that does not boot), and a block map
 * that matches. Reads only the image.
 */
export async function inspectImage(path: string, opts: InspectOptions = {}): Promise<ImageFacts> {
  try {
    return await inspect(path, opts);
  } catch (e) {
    // A download that broke off explains a short or broken head better than the image does.
    throw opts.follow?.failed ?? e;
  }
}

/**
 * `follow`: the file is still arriving (a cold registry pull burned as it downloads). Its head is
 * read as it comes; its decompressed size is the block map's ImageSize (the container records
 * it at the end, or not at all), unknown without a map.
 */
export interface InspectOptions {
  label?: string;
  bmap?: string;
  follow?: Follow;
  /** A compressed image's first bytes from a decompressor already running for the burn (write/image-stream.ts), instead of one of the check's own. */
  head?: (bytes: number) => Promise<Buffer>;
}

async function inspect(path: string, opts: InspectOptions): Promise<ImageFacts> {
  const label = opts.label ?? path;
  const { follow } = opts;
  await follow?.until(6);
  const compression = await detectCompression(path);
  if (!compression) await follow?.complete;
  const streamedSize = async () => (opts.bmap ? (await allocationFromBmap(opts.bmap, undefined)).map.size : undefined);
  const readTable = (file: string) =>
    readPartitionTable(file).catch((e: unknown) => {
      throw new ImageError('E_IMAGE_NO_TABLE', `image ${label}: no MBR or GPT partition table: not a card image; nothing was written`, { file: path, cause: e });
    });
  // The size and the table side by side: a compressed image's are two programs each (its listing,
  // and a decompressor for its head), which need not wait for each other.
  const sizeOf = async () => (compression ? (follow ? await streamedSize() : await uncompressedSize(path, compression)) : (await stat(path)).size);
  const tableOf = () => (compression ? withHead(path, compression, readTable, follow, opts.head) : readTable(path));
  const [tabled, sized] = await Promise.allSettled([tableOf(), sizeOf()]);
  // The size's failure first, as when they ran one after the other.
  if (sized.status === 'rejected') throw sized.reason;
  if (tabled.status === 'rejected') throw tabled.reason;
  const size = sized.value;
  const table = tabled.value;
  const tableEnd = Math.max(0, ...table.partitions.map((p) => p.offset + p.size));
  if (size !== undefined && tableEnd > size) {
    const missing = tableEnd - size;
    throw new ImageError(
      'E_IMAGE_TRUNCATED',
      `image ${label}: its partition table reaches byte ${tableEnd} but the image holds ${size} bytes (${(missing / 1048576).toFixed(1)} MiB missing): a truncated copy? Copy it again and compare its sha256; nothing was written`,
      { file: path },
    );
  }
  if (opts.bmap) await allocationFromBmap(opts.bmap, size);
  return { compression, size, tableEnd, partitions: table.partitions };
}
