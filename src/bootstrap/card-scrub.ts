import { randomBytes } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { readBounded } from '../manifest/read-bounded.js';
import { MAX_YAML_BYTES } from '../manifest/bounded-yaml.js';
import { readSecretStore, SCRUBBED, SECRETS_FILE } from './secret-store.js';

/**
 * The node's own writes to its card, safe against a power cut at any of them:
 *   1. the secrets go to STATE/secrets.json (0600, atomic);
 *   2. the card's manifest as it is now (the last good one) to STATE/manifest.last-good.yaml
 *      (0600, atomic), then the marker STATE/scrub.pending naming the card file;
 *   3. each secret is overwritten in place on the card (so the clusters that held it hold filler);
 *   4. the scrubbed text goes to a temp file beside it, fsync, rename over it, fsync the directory;
 *   5. the marker is removed.
 * While the marker exists the card's copy is trusted only if it is the last good text or its
 * scrubbed form; otherwise the loader falls back to the last good copy (with a notice) and the
 * next scrub rewrites the card from it.
 */
export const LAST_GOOD = 'manifest.last-good.yaml';
export const SCRUB_PENDING = 'scrub.pending';

/** Every step that changes something goes through here (tests stop the run at any of them). */
export type Step = <T>(name: string, fn: () => Promise<T>) => Promise<T>;
const direct: Step = (_name, fn) => fn();

export function scrubText(text: string, values: string[]): string {
  let out = text;
  for (const v of [...values].sort((a, b) => b.length - a.length)) out = out.split(v).join(SCRUBBED);
  return out;
}

export interface Pending {
  card: string;
  lastGood: string;
}

/** The interrupted scrub's record, or null. */
export async function readPending(stateDir: string): Promise<Pending | null> {
  const card = await fsp.readFile(join(stateDir, SCRUB_PENDING), 'utf8').catch(() => null);
  if (card === null) return null;
  const lastGood = await readBounded(join(stateDir, LAST_GOOD), MAX_YAML_BYTES).catch(() => null);
  if (!lastGood || lastGood.truncated) return null;
  return { card: card.trim(), lastGood: lastGood.data.toString('utf8') };
}

async function atomicWrite(file: string, text: string, mode: number, step: Step): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.metis-${randomBytes(4).toString('hex')}`);
  const fh = await step(`create ${tmp}`, () => fsp.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode));
  try {
    await step(`write ${tmp}`, () => fh.writeFile(text));
    await step(`fsync ${tmp}`, () => fh.sync());
  } finally {
    await fh.close();
  }
  await step(`rename ${tmp} ${file}`, () => fsp.rename(tmp, file));
  const dir = await fsp.open(dirname(file), 'r');
  try {
    await step(`fsync ${dirname(file)}`, () => dir.sync().catch(() => undefined)); // vfat may refuse a directory fsync
  } finally {
    await dir.close();
  }
}

/**
 * Scrubs `values` from the card manifest `card`, whose good text is `source` (the card's own text,
 * or the last good copy when the card was left damaged). `paths` maps each secret's field path to
 * its value for the state dir's store.
 */
export async function scrubCard(opts: { card: string; stateDir: string; source: string; secrets: Array<{ path: string; value: string }>; step?: Step }): Promise<void> {
  const step = opts.step ?? direct;
  const { card, stateDir, source, secrets } = opts;
  await fsp.mkdir(stateDir, { recursive: true, mode: 0o700 });
  const store = { ...(await readSecretStore(stateDir)), ...Object.fromEntries(secrets.map((s) => [s.path, s.value])) };
  await atomicWrite(join(stateDir, SECRETS_FILE), `${JSON.stringify(store, null, 2)}\n`, 0o600, step);
  if (!(await readPending(stateDir))) {
    await atomicWrite(join(stateDir, LAST_GOOD), source, 0o600, step);
    await atomicWrite(join(stateDir, SCRUB_PENDING), `${card}\n`, 0o600, step);
  }

  // Filler over each secret where it lies on the card, so the clusters that held it are clean.
  const fh = await fsp.open(card, constants.O_RDWR).catch(() => null);
  if (fh) {
    try {
      const bytes = (await readBounded(card, MAX_YAML_BYTES)).data;
      for (const { value } of secrets) {
        const needle = Buffer.from(value);
        for (let at = bytes.indexOf(needle); at >= 0; at = bytes.indexOf(needle, at + needle.length)) {
          await step(`overwrite ${card}@${at}`, () => fh.write(Buffer.alloc(needle.length, 'x'), 0, needle.length, at));
        }
      }
      await step(`fsync ${card}`, () => fh.sync());
    } finally {
      await fh.close();
    }
  }
  await atomicWrite(card, scrubText(source, secrets.map((s) => s.value)), 0o644, step);
  await step(`remove ${SCRUB_PENDING}`, () => fsp.rm(join(stateDir, SCRUB_PENDING), { force: true }));
}
