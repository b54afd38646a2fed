import { randomBytes } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { MetisError } from '../lib/errors.js';
import { Redactor } from '../lib/redact.js';
import { manifestHash } from '../manifest/hash.js';
import { manifestSecrets, parseManifest, serializeManifest, type LoadedManifest } from '../manifest/load.js';
import type { Manifest } from '../manifest/schema.js';
import { lineDiff } from './diff-text.js';
import { findManifest, loadManifest } from './load-manifest.js';
import { readSecretStore, SCRUBBED } from './secret-store.js';

/** The biggest manifest accepted on stdin: far above any real one, small enough to refuse garbage. */
export const MAX_MANIFEST_BYTES = 1 << 20;

export interface InstallOutcome {
  /** The card's manifest that is (or would be) replaced. */
  path: string;
  hostname: string;
  /** manifestHash before (null: the card's manifest did not load) and after. */
  before: string | null;
  after: string;
  /** Whether anything but the burn stamp differs, secrets included. */
  changed: boolean;
  /** Changed lines of the manifest, secrets redacted. */
  diff: string[];
  written: boolean;
}

function setPath(obj: Record<string, unknown>, path: string, v: unknown): void {
  const keys = path.split('.');
  let cur = obj;
  for (const k of keys.slice(0, -1)) cur = cur[k] as Record<string, unknown>;
  cur[keys[keys.length - 1]!] = v;
}

/** temp beside the target → fsync → rename → fsync dir. No chmod/chown: the boot partition is FAT. */
async function writeAtomic(target: string, text: string): Promise<void> {
  const tmp = join(dirname(target), `.${basename(target)}.metis-${randomBytes(4).toString('hex')}`);
  const fh = await fsp.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fsp.rename(tmp, target);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  const dh = await fsp.open(dirname(target), constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await dh.sync();
  } catch {
    // Some FAT drivers refuse fsync on a directory; the rename itself is already issued.
  } finally {
    await dh.close();
  }
}

const withoutBurn = (m: Manifest): Manifest => {
  const { burn: _b, ...rest } = m;
  return rest as Manifest;
};

/**
 * `metis-bootstrap --install-manifest -`: the manifest `metis push` sends on stdin replaces the
 * card's, so a label or mount change needs no reflash. Validated with the shared schema first (a
 * newer schemaVersion than this bootstrap reads is refused); refused for another hostname than the
 * card's; the card's burn stamp is kept; secrets equal to the ones already scrubbed from this card
 * go back as the scrub marker, so they never return to the FAT partition. Nothing is written in
 * check mode, when nothing changed, or on any error.
 */
export async function installManifest(text: string, o: { root: string; manifestPath?: string; stateDir: string; check: boolean }): Promise<InstallOutcome> {
  if (Buffer.byteLength(text) > MAX_MANIFEST_BYTES) throw new MetisError('E_VALIDATION', `the manifest on stdin is larger than ${MAX_MANIFEST_BYTES} bytes`);
  const next = parseManifest(text, 'pushed manifest');
  const target = o.manifestPath ?? (await findManifest(o.root));
  let current: LoadedManifest | null = null;
  try {
    current = await loadManifest(target, o.stateDir);
  } catch {
    current = null; // a card manifest that no longer loads is what a push repairs
  }
  const wantHost = next.manifest.node.hostname;
  const haveHost = current?.manifest.node.hostname ?? (await fsp.readFile(join(o.root, 'etc/hostname'), 'utf8').then((t) => t.trim(), () => null));
  if (haveHost && haveHost !== wantHost) {
    throw new MetisError('E_WRONG_NODE', `the pushed manifest is for ${wantHost}, but this node is ${haveHost} (${target}); nothing was written`, { file: target, path: 'node.hostname' });
  }
  const redact = new Redactor([...next.secrets, ...(current?.secrets ?? [])].map((s) => s.value));
  const before = current ? serializeManifest(withoutBurn(current.manifest)) : null;
  const after = serializeManifest(withoutBurn(next.manifest));
  const changed = before !== after;
  const diff = lineDiff(before === null ? null : redact.text(before), redact.text(after)).filter((l) => !l.startsWith(' '));

  let written = false;
  if (!o.check && changed) {
    const store = await readSecretStore(o.stateDir);
    const out = structuredClone({ ...next.manifest, burn: next.manifest.burn ?? current?.manifest.burn }) as Record<string, unknown>;
    if (!out.burn) delete out.burn;
    for (const s of manifestSecrets(next.manifest)) if (store[s.path] === s.value) setPath(out, s.path, SCRUBBED);
    await writeAtomic(target, serializeManifest(out as Manifest));
    written = true;
  }
  return { path: target, hostname: wantHost, before: current ? manifestHash(current.manifest) : null, after: manifestHash(next.manifest), changed, diff, written };
}

/** Reads FILE, or stdin for "-", refusing more than MAX_MANIFEST_BYTES. */
export async function readManifestInput(from: string): Promise<string> {
  if (from !== '-') return fsp.readFile(from, 'utf8');
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of process.stdin) {
    n += (c as Buffer).length;
    if (n > MAX_MANIFEST_BYTES) throw new MetisError('E_VALIDATION', `the manifest on stdin is larger than ${MAX_MANIFEST_BYTES} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
