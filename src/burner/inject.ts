import { MANIFEST_PATH } from '../core/card.js';
import { MetisError } from '../lib/errors.js';
import { parseManifest, serializeManifest } from '../manifest/load.js';
import type { Manifest } from '../manifest/schema.js';
import { readBootFile, writeBootFile } from './fat/boot-file.js';

/**
 * Writes the node's manifest into the card's FAT boot partition, reads it back and validates the
 * bytes the bootstrap will read. Any failure here leaves a card that must be burned again.
 */
export async function injectManifest(target: string, manifest: Manifest): Promise<{ path: string; bytes: number }> {
  const text = serializeManifest(manifest);
  await writeBootFile(target, MANIFEST_PATH, Buffer.from(text));
  const back = await readBootFile(target, MANIFEST_PATH);
  if (!back || back.toString('utf8') !== text) throw new MetisError('E_MANIFEST_READBACK', `${target}: ${MANIFEST_PATH} read back differs from what was written`);
  parseManifest(back.toString('utf8'), `${target}:${MANIFEST_PATH}`);
  return { path: MANIFEST_PATH, bytes: Buffer.byteLength(text) };
}
