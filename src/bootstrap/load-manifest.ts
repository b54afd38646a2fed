import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import { MetisError, ValidationError } from '../lib/errors.js';
import { MAX_YAML_BYTES, parseBounded } from '../manifest/bounded-yaml.js';
import { manifestFromParsed, manifestSecrets, secretShapes, type LoadedManifest } from '../manifest/load.js';
import { keepParsed, readParsed } from './manifest-cache.js';
import { readBounded } from '../manifest/read-bounded.js';
import { LAST_GOOD, readPending, scrubText } from './card-scrub.js';
import { readSecretStore, restoreScrubbed, SCRUBBED } from './secret-store.js';

/** Where the burner puts the manifest on the boot partition (Pi OS mounts it at /boot/firmware). */
export const MANIFEST_SEARCH = ['/boot/firmware/metis/node.yaml', '/boot/metis/node.yaml'];

/** The card's manifest; when none is there but an interrupted scrub names one, that one (the loader then falls back). */
export async function findManifest(root: string, stateDir = join(root, 'var/lib/metis')): Promise<string> {
  for (const p of MANIFEST_SEARCH) {
    const abs = join(root, p);
    if (await fsp.stat(abs).then((s) => s.isFile(), () => false)) return abs;
  }
  const pending = await readPending(stateDir);
  if (pending && MANIFEST_SEARCH.some((p) => resolve(join(root, p)) === resolve(pending.card))) return pending.card;
  throw new MetisError('E_NO_MANIFEST', `no manifest found; looked for ${MANIFEST_SEARCH.map((p) => join(root, p)).join(', ')}`);
}

async function readText(file: string): Promise<string> {
  const r = await readBounded(file, MAX_YAML_BYTES).catch((e: Error) => {
    throw new MetisError('E_NO_MANIFEST', `cannot read manifest ${file}: ${e.message}`, { file, cause: e });
  });
  if (r.truncated) throw new ValidationError(file, [{ path: '', line: 1, message: `file is larger than ${MAX_YAML_BYTES} bytes (1 MiB): refused unread` }]);
  return r.data.toString('utf8');
}

/**
 * Validates manifest text (its parse kept in the cache directory for the next run: manifest-cache.ts); secrets scrubbed from the card after the first converge are restored
 * from STATE/secrets.json into the parsed data before validation (one parse of the card's text),
 * so validation sees the real values and errors name the card's lines. The hash is of the text as given.
 */
async function loadText(text: string, file: string, stateDir: string): Promise<LoadedManifest> {
  const store = text.includes(SCRUBBED) ? await readSecretStore(stateDir) : undefined;
  const restore = store ? (data: unknown) => restoreScrubbed(data, store, file) : undefined;
  const kept = readParsed(text);
  if (kept) return manifestFromParsed(kept, text, file, restore);
  const parsed = parseBounded(text, file);
  const loaded = manifestFromParsed(parsed, text, file, restore);
  keepParsed(text, parsed.data, [...loaded.secrets.map((s) => s.value), ...secretShapes(text)]);
  return loaded;
}

/**
 * Reads the card's manifest. After a scrub of secrets that was cut short (STATE/scrub.pending), the
 * card's copy is trusted only when it is the last good text or its scrubbed form; otherwise the
 * last good copy is used, with a notice, and this run's scrub_secrets rewrites the card. Without
 * that record a bad manifest is an error as always (an operator's edit is never overridden).
 */
export async function loadManifest(file: string, stateDir: string): Promise<LoadedManifest> {
  const pending = await readPending(stateDir);
  if (pending && resolve(pending.card) === resolve(file)) {
    const good = await loadText(pending.lastGood, `${join(stateDir, LAST_GOOD)}`, stateDir);
    const scrubbed = scrubText(pending.lastGood, manifestSecrets(good.manifest).map((s) => s.value));
    const onCard = await readText(file).catch(() => null);
    if (onCard !== pending.lastGood && onCard !== scrubbed) {
      const why = onCard === null ? 'is missing or unreadable' : 'was left half-written';
      return {
        ...good,
        file,
        notice: `${file} ${why} after an interrupted scrub of secrets; using the last good copy ${join(stateDir, LAST_GOOD)}; scrub_secrets rewrites the card in this run`,
      };
    }
  }
  return loadText(await readText(file), file, stateDir);
}
