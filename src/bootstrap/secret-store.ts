import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { MetisError } from '../lib/errors.js';
import { manifestSchema } from '../manifest/schema.js';
import { findSecrets } from '../manifest/secret.js';

/**
 * After the first successful converge the card's secrets are scrubbed: each secret value in the
 * manifest on the FAT partition is replaced by this marker, and the real value is kept only in
 * STATE/secrets.json (0600, root). Loading restores marked fields from the store before validation.
 */
export const SCRUBBED = 'metis:scrubbed';
export const SECRETS_FILE = 'secrets.json';

export type StoredSecrets = Record<string, string>;

export async function readSecretStore(stateDir: string): Promise<StoredSecrets> {
  try {
    return JSON.parse(await fsp.readFile(join(stateDir, SECRETS_FILE), 'utf8')) as StoredSecrets;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new MetisError('E_SECRET_STORE', `cannot read ${join(stateDir, SECRETS_FILE)}`, { cause: e });
  }
}

/** Replaces every scrubbed secret in a raw (parsed, not yet validated) manifest with its stored value. */
export function restoreScrubbed(raw: unknown, store: StoredSecrets, file: string): unknown {
  const found = findSecrets(manifestSchema, raw).filter((s) => s.value === SCRUBBED);
  if (found.length === 0) return raw;
  const copy = structuredClone(raw) as Record<string, unknown>;
  for (const { path } of found) {
    const value = store[path];
    if (value === undefined) {
      throw new MetisError(
        'E_SECRET_MISSING',
        `${file}: ${path} was scrubbed from the card but is not in the state dir's ${SECRETS_FILE}; burn the card again`,
        { file, path },
      );
    }
    setPath(copy, path, value);
  }
  return copy;
}

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let cur: Record<string, unknown> = obj;
  for (const k of keys.slice(0, -1)) cur = cur[k] as Record<string, unknown>;
  cur[keys[keys.length - 1]!] = value;
}
