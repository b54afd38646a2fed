// The card's manifest text, parsed once: the YAML parse (with its bounds, src/manifest/bounded-yaml.ts)
// was about 60 % of a no-op boot's manifest load under emulation, and the text is the same on every
// boot until someone writes the card. The parsed data of a text that validated is kept in the
// run's cache directory (CACHE_DIRECTORY, the units' /var/cache/metis, as the V8 code cache), under
// the text's sha256 and the engine's code hash (another bundle parses afresh), and validated again
// on every run. Never kept: a text that holds a secret (a card before its first converge's scrub),
// data JSON cannot carry exactly. A missing, unreadable or damaged entry is a plain parse.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { engineHash } from '../core/engine-hash.js';
import { exactJson } from '../manifest/exact-json.js';
import { cacheDirOf } from './cache-dir.js';

const PREFIX = 'manifest-';

function entryFile(dir: string, text: string, engine: string): string {
  return join(dir, `${PREFIX}${createHash('sha256').update(text).digest('hex').slice(0, 32)}-${engine}.json`);
}

/** The parsed data kept for this exact text, or undefined. */
export function readParsed(text: string, env: NodeJS.ProcessEnv = process.env): { data: unknown } | undefined {
  const dir = cacheDirOf(env);
  const engine = engineHash();
  if (!dir || !engine) return undefined;
  try {
    const kept = JSON.parse(readFileSync(entryFile(dir, text, engine), 'utf8')) as { data?: unknown };
    return 'data' in kept ? { data: kept.data } : undefined;
  } catch {
    return undefined;
  }
}

/** Keeps `data` (what text parsed to; it validated) unless the text holds one of `secrets`; replaces older entries. */
export function keepParsed(text: string, data: unknown, secrets: readonly string[], env: NodeJS.ProcessEnv = process.env): void {
  const dir = cacheDirOf(env);
  const engine = engineHash();
  if (!dir || !engine || secrets.some((s) => s && text.includes(s))) return;
  const json = exactJson(data);
  if (json === undefined) return;
  const file = entryFile(dir, text, engine);
  try {
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, json, { mode: 0o600 });
    renameSync(tmp, file);
    for (const f of readdirSync(dir)) if (f.startsWith(PREFIX) && join(dir, f) !== file) rmSync(join(dir, f), { force: true });
  } catch {
    // A cache that cannot be written is skipped: the run never depends on it.
  }
}
