import { open } from 'node:fs/promises';
import { MANIFEST_PATH } from '../core/card.js';
import type { Partition } from '../core/partition-table.js';
import { MetisError } from '../lib/errors.js';
import { parseManifest, serializeManifest } from '../manifest/load.js';
import type { Manifest } from '../manifest/schema.js';
import { readBootFile, writeBootFileVia } from './fat/boot-file.js';
import type { BlockIo } from './fat/volume.js';

/**
 * Writes the node's manifest into the FAT boot partition of a card not yet whole (burn's `inject`
 * step: before its first MiB, so the card boots only with it). Returns the text written.
 */
export async function injectManifest(card: BlockIo, partitions: Partition[], manifest: Manifest): Promise<string> {
  const text = serializeManifest(manifest);
  // The bytes the bootstrap will read, judged as it will judge them before they go in: the
  // read-back after the card is whole then only has to find the same bytes (readBackManifest).
  parseManifest(text, MANIFEST_PATH);
  await writeBootFileVia(card, partitions, MANIFEST_PATH, Buffer.from(text));
  return text;
}

/**
 * The injection and the read-back's validation done once on scratch: the manifest serialized and
 * parsed, and (for a raw image, whose bytes are the card's) written into the image's own FAT
 * partition through a view that reads the image file and keeps every write in memory. Nothing is
 * written anywhere. A burn runs it while its last flush reaches the card (write/burn.ts
 * `whileDraining`): the real injection and read-back then run on warm code (a first run of the
 * YAML and FAT code is several times slower), which shortens the burn's end.
 */
export async function rehearseInjection(rawImage: string | null, partitions: Partition[], manifest: Manifest): Promise<void> {
  const text = serializeManifest(manifest);
  parseManifest(text, 'rehearsal');
  if (!rawImage) return;
  const fh = await open(rawImage, 'r');
  try {
    await writeBootFileVia(scratchOver(fh), partitions, MANIFEST_PATH, Buffer.from(text));
  } finally {
    await fh.close();
  }
}

/** A BlockIo that reads `fh` and keeps writes in memory (later reads see them). */
export function scratchOver(fh: { read(b: Buffer, o: number, l: number, p: number): Promise<{ bytesRead: number }> }): BlockIo {
  const writes: Array<{ at: number; data: Buffer }> = [];
  return {
    async read(buf, offset, length, position) {
      const { bytesRead } = await fh.read(buf, offset, length, position);
      buf.fill(0, offset + bytesRead, offset + length);
      for (const w of writes) {
        const from = Math.max(position, w.at);
        const to = Math.min(position + length, w.at + w.data.length);
        if (from < to) w.data.copy(buf, offset + from - position, from - w.at, to - w.at);
      }
      return undefined;
    },
    async write(buf, offset, length, position) {
      writes.push({ at: position, data: Buffer.from(buf.subarray(offset, offset + length)) });
      return undefined;
    },
  };
}

/**
 * Reads the manifest back from the finished card, through its own partition table: the bytes the
 * bootstrap will read must be exactly `text`, which injectManifest validated before writing it (so
 * they are not parsed again at the burn's end). A failure here means a card that must be burned again.
 */
export async function readBackManifest(target: string, text: string, opts: { blockDevice?: boolean } = {}): Promise<void> {
  // A card is read with O_DIRECT: what the card holds, not what the page cache still does.
  const back = await readBootFile(target, MANIFEST_PATH, { direct: opts.blockDevice });
  if (!back || !back.equals(Buffer.from(text))) throw new MetisError('E_MANIFEST_READBACK', `${target}: ${MANIFEST_PATH} read back differs from what was written`);
}
