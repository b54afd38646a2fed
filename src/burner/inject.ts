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
  await writeBootFileVia(card, partitions, MANIFEST_PATH, Buffer.from(text));
  return text;
}

/**
 * Reads the manifest back from the finished card, through its own partition table, and validates
 * the bytes the bootstrap will read. A failure here means a card that must be burned again.
 */
export async function readBackManifest(target: string, text: string): Promise<void> {
  const back = await readBootFile(target, MANIFEST_PATH);
  if (!back || back.toString('utf8') !== text) throw new MetisError('E_MANIFEST_READBACK', `${target}: ${MANIFEST_PATH} read back differs from what was written`);
  parseManifest(back.toString('utf8'), `${target}:${MANIFEST_PATH}`);
}
