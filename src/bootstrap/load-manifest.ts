import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { stringify, parse } from 'yaml';
import { MetisError } from '../lib/errors.js';
import { parseManifest, type LoadedManifest } from '../manifest/load.js';
import { readSecretStore, restoreScrubbed, SCRUBBED } from './secret-store.js';

/** Where the burner puts the manifest on the boot partition (Pi OS mounts it at /boot/firmware). */
export const MANIFEST_SEARCH = ['/boot/firmware/metis/node.yaml', '/boot/metis/node.yaml'];

export async function findManifest(root: string): Promise<string> {
  for (const p of MANIFEST_SEARCH) {
    const abs = join(root, p);
    if (await fsp.stat(abs).then((s) => s.isFile(), () => false)) return abs;
  }
  throw new MetisError('E_NO_MANIFEST', `no manifest found; looked for ${MANIFEST_SEARCH.map((p) => join(root, p)).join(', ')}`);
}

/**
 * Reads the manifest; secrets scrubbed from the card after the first converge are restored from
 * STATE/secrets.json before validation, so validation sees the real values. The hash is of the
 * file as it is on the card.
 */
export async function loadManifest(file: string, stateDir: string): Promise<LoadedManifest> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    throw new MetisError('E_NO_MANIFEST', `cannot read manifest ${file}: ${(e as Error).message}`, { file, cause: e });
  }
  if (!text.includes(SCRUBBED)) return parseManifest(text, file);
  let raw: unknown;
  try {
    raw = parse(text);
  } catch {
    return parseManifest(text, file); // reports the YAML error with its line
  }
  const restored = restoreScrubbed(raw, await readSecretStore(stateDir), file);
  const loaded = parseManifest(stringify(restored, { lineWidth: 0 }), file);
  return { ...loaded, hash: createHash('sha256').update(text).digest('hex') };
}
