import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/bootstrap/load-manifest.js';
import { ValidationError } from '../../src/lib/errors.js';
import { parseManifest } from '../../src/manifest/load.js';
import { exampleManifestText, tempRoot } from '../helpers/context.js';
import { writeCard } from './card-fixture.js';

// The card's parsed manifest kept in the run's cache directory (src/bootstrap/manifest-cache.ts):
// used only for the very text and the very engine that made it, validated again on every run, never
// holding a secret.
const token = /token: (\S+)/.exec(exampleManifestText)![1]!;
const nodePassword = /nodePassword: (\S+)/.exec(exampleManifestText)![1]!;
const hostname = /hostname: (\S+)/.exec(exampleManifestText)![1]!;
const scrubbedText = exampleManifestText.replace(token, 'metis:scrubbed').replace(nodePassword, 'metis:scrubbed');
const store = { 'k3s.token': token, 'k3s.nodePassword': nodePassword };
const g = globalThis as { __METIS_ENGINE_HASH__?: string };

let root: string;
let cleanup: () => void;
let cache: string;
const saved = { env: process.env.CACHE_DIRECTORY, engine: g.__METIS_ENGINE_HASH__ };
beforeEach(() => {
  ({ root, cleanup } = tempRoot('metis-mcache-'));
  cache = join(root, 'cache');
  mkdirSync(cache, { mode: 0o700 });
  process.env.CACHE_DIRECTORY = cache;
  g.__METIS_ENGINE_HASH__ = 'e1e1e1e1e1e1e1e1';
});
afterEach(() => {
  if (saved.env === undefined) delete process.env.CACHE_DIRECTORY;
  else process.env.CACHE_DIRECTORY = saved.env;
  g.__METIS_ENGINE_HASH__ = saved.engine;
  cleanup();
});

const card = (text: string, secrets?: Record<string, string>) => writeCard(root, text, secrets);
const entries = () => readdirSync(cache).filter((f) => f.startsWith('manifest-'));

describe('the parsed manifest kept between runs', () => {
  it('a scrubbed card: kept (0600, no secret in it), then used, with the same manifest and hash as a fresh parse', async () => {
    const { file, stateDir } = card(scrubbedText, store);
    const fresh = await loadManifest(file, stateDir);
    expect(entries()).toHaveLength(1);
    const entry = join(cache, entries()[0]!);
    expect(statSync(entry).mode & 0o777).toBe(0o600);
    const bytes = readFileSync(entry, 'utf8');
    for (const s of [token, nodePassword]) expect(bytes).not.toContain(s);
    const again = await loadManifest(file, stateDir);
    expect(again).toEqual(fresh);
    expect(again.manifest).toEqual(parseManifest(exampleManifestText, file).manifest);
    // What the next run validates is the kept data: an entry edited to another valid hostname shows it.
    writeFileSync(entry, bytes.replace(`"hostname":"${hostname}"`, '"hostname":"titan-99"'));
    expect((await loadManifest(file, stateDir)).manifest.node.hostname).toBe('titan-99');
  });

  it('a card that still holds its secrets (before the first scrub) is never kept', async () => {
    const { file, stateDir } = card(exampleManifestText);
    await loadManifest(file, stateDir);
    expect(entries()).toEqual([]);
  });

  it('another engine, another text, a damaged or invalid entry: parsed afresh', async () => {
    const { file, stateDir } = card(scrubbedText, store);
    const fresh = await loadManifest(file, stateDir);
    const [first] = entries();
    const entry = join(cache, first!);
    // Kept data that no longer validates is not trusted: the text is parsed again.
    writeFileSync(entry, readFileSync(entry, 'utf8').replace(`"hostname":"${hostname}"`, '"hostname":"Not_A_Host!"'));
    expect(await loadManifest(file, stateDir)).toEqual(fresh);
    writeFileSync(entry, '{"data": ');
    expect(await loadManifest(file, stateDir)).toEqual(fresh);
    g.__METIS_ENGINE_HASH__ = 'f2f2f2f2f2f2f2f2';
    expect(await loadManifest(file, stateDir)).toEqual(fresh);
    // One entry: the new engine's replaced the old one.
    expect(entries()).toHaveLength(1);
    expect(entries()[0]).not.toBe(first);
    expect(entries()[0]).toContain('f2f2f2f2f2f2f2f2');
  });

  it('an edited card is parsed afresh, and its error names the card line as without the cache', async () => {
    const { file, stateDir } = card(scrubbedText, store);
    await loadManifest(file, stateDir);
    const bad = scrubbedText.replace(/^(\s*)hostname: \S+$/m, '$1hostname: "Not_A_Host!"');
    writeFileSync(file, bad);
    const e = await loadManifest(file, stateDir).then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(ValidationError);
    expect((e as ValidationError).issues.find((i) => i.path.endsWith('hostname'))?.line).toBe(bad.split('\n').findIndex((l) => l.includes('Not_A_Host!')) + 1);
  });

  it('a secret store that lost a value fails as without the cache', async () => {
    const { file, stateDir } = card(scrubbedText, store);
    await loadManifest(file, stateDir);
    writeFileSync(join(stateDir, 'secrets.json'), JSON.stringify({ 'k3s.token': token }), { mode: 0o600 });
    await expect(loadManifest(file, stateDir)).rejects.toThrow(/k3s.nodePassword was scrubbed from the card but is not in the state dir/);
  });

  it('without a cache directory (a run by hand) or from source (no engine hash) nothing is written', async () => {
    const { file, stateDir } = card(scrubbedText, store);
    delete process.env.CACHE_DIRECTORY;
    await loadManifest(file, stateDir);
    process.env.CACHE_DIRECTORY = cache;
    g.__METIS_ENGINE_HASH__ = undefined;
    await loadManifest(file, stateDir);
    expect(entries()).toEqual([]);
  });
});
