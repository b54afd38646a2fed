import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadInventory } from '../../src/inventory/load.js';
import { ParseStore } from '../../src/inventory/parse-store.js';

// The CLI's kept parses of the inventory (src/inventory/parse-store.ts): used only for the very text
// and engine that made them, validated on every load, never holding anything shaped like a secret,
// rewritten only when the texts changed.
const EXAMPLE = new URL('../../inventory', import.meta.url).pathname;
const ENGINE = 'e1e1e1e1e1e1e1e1';
const KEY = ['-----BEGIN OPENSSH PRIVATE KEY-----', 'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW', '-----END OPENSSH PRIVATE KEY-----'].join('\n');
const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function temp(prefix: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

async function copyOfExample(): Promise<string> {
  const dir = await temp('metis-pstore-inv-');
  await cp(EXAMPLE, dir, { recursive: true });
  return dir;
}

const storeFile = (cache: string, engine = ENGINE) => join(cache, `inventory-${engine}.json`);
const load = (inv: string, cache: string, engine = ENGINE) => loadInventory(inv, { only: 'titan-13', parsed: ParseStore.open(cache, engine) });
/** The inventory as plain data (Sourced defs and texts), to compare loads. */
const plain = (i: Awaited<ReturnType<typeof loadInventory>>) => ({ cluster: i.cluster, classes: [...i.classes], nodes: [...i.nodes], warnings: i.warnings });

describe('the inventory parses kept between runs', () => {
  it('is written 0600 in a 0700 directory, then used: the same inventory as without it, and the kept data is what validates', async () => {
    const inv = await copyOfExample();
    const cache = join(await temp('metis-pstore-'), 'parsed');
    const fresh = await loadInventory(inv, { only: 'titan-13' });
    expect(plain(await load(inv, cache))).toEqual(plain(fresh));
    expect(statSync(cache).mode & 0o777).toBe(0o700);
    const st = statSync(storeFile(cache));
    expect(st.mode & 0o777).toBe(0o600);
    const kept = JSON.parse(readFileSync(storeFile(cache), 'utf8')) as { entries: Record<string, unknown> };
    expect(Object.keys(kept.entries)).toHaveLength(1 + readdirSync(join(inv, 'classes')).length + readdirSync(join(inv, 'nodes')).length);
    expect(plain(await load(inv, cache))).toEqual(plain(fresh));
    // Unchanged texts: not written again (a write is a new file renamed over the old one).
    expect(statSync(storeFile(cache)).ino).toBe(st.ino);
    // What a load validates is the kept data: an entry edited to another valid port shows it.
    writeFileSync(storeFile(cache), readFileSync(storeFile(cache), 'utf8').replace('"port":2277', '"port":2288'));
    expect((await load(inv, cache)).cluster.def.ssh?.port).toBe(2288);
  });

  it('a kept entry that no longer validates is parsed afresh; a damaged store is an empty one', async () => {
    const inv = await copyOfExample();
    const cache = join(await temp('metis-pstore-'), 'parsed');
    const fresh = plain(await loadInventory(inv, { only: 'titan-13' }));
    await load(inv, cache);
    writeFileSync(storeFile(cache), readFileSync(storeFile(cache), 'utf8').replace('"port":2277', '"port":"not a port"'));
    expect(plain(await load(inv, cache))).toEqual(fresh);
    expect(readFileSync(storeFile(cache), 'utf8')).not.toContain('not a port');
    writeFileSync(storeFile(cache), '{"entries": [garbage');
    expect(plain(await load(inv, cache))).toEqual(fresh);
    expect(JSON.parse(readFileSync(storeFile(cache), 'utf8'))).toHaveProperty('entries');
  });

  it('an edited file is parsed afresh and its old entry dropped (the store holds the last load only)', async () => {
    const inv = await copyOfExample();
    const cache = join(await temp('metis-pstore-'), 'parsed');
    await load(inv, cache);
    const before = Object.keys((JSON.parse(readFileSync(storeFile(cache), 'utf8')) as { entries: object }).entries);
    const file = join(inv, 'nodes/titan-15.yaml');
    await writeFile(file, (await readFile(file, 'utf8')).replace('192.168.22.15/24', '192.168.22.115/24'));
    const again = await load(inv, cache);
    expect(again.nodes.get('titan-15')?.def.address).toBe('192.168.22.115/24');
    const after = Object.keys((JSON.parse(readFileSync(storeFile(cache), 'utf8')) as { entries: object }).entries);
    expect(after).toHaveLength(before.length);
    expect(after.filter((k) => !before.includes(k))).toHaveLength(1);
  });

  it('never keeps a text holding something shaped like a secret', async () => {
    const inv = await copyOfExample();
    const cache = join(await temp('metis-pstore-'), 'parsed');
    const file = join(inv, 'nodes/titan-15.yaml');
    await writeFile(file, `${await readFile(file, 'utf8')}\nfiles:\n  - path: /etc/pasted.key\n    content: |\n${KEY.split('\n').map((l) => `      ${l}`).join('\n')}\n`);
    const loaded = await load(inv, cache);
    expect(loaded.nodes.get('titan-15')?.def.files?.[0]?.content).toContain('PRIVATE KEY');
    const bytes = readFileSync(storeFile(cache), 'utf8');
    expect(bytes).not.toContain('PRIVATE KEY');
    expect(bytes).not.toContain('b3BlbnNzaC1rZXktdjEA');
    expect(bytes).toContain('titan-13');
    // Nothing new to keep at the next load: not written again.
    const ino = statSync(storeFile(cache)).ino;
    await load(inv, cache);
    expect(statSync(storeFile(cache)).ino).toBe(ino);
  });

  it('another engine starts empty, and its store replaces the old engine\'s', async () => {
    const inv = await copyOfExample();
    const cache = join(await temp('metis-pstore-'), 'parsed');
    await load(inv, cache);
    await load(inv, cache, 'f2f2f2f2f2f2f2f2');
    expect(readdirSync(cache)).toEqual(['inventory-f2f2f2f2f2f2f2f2.json']);
  });

  it('is off without a directory or an engine, and refuses an engine name that is not a plain word', () => {
    expect(ParseStore.open(undefined, ENGINE)).toBeUndefined();
    expect(ParseStore.open('/tmp', undefined)).toBeUndefined();
    expect(ParseStore.open('/tmp', '../x')).toBeUndefined();
  });

  it('a store that cannot be written leaves the load as it was', async () => {
    const inv = await copyOfExample();
    const base = await temp('metis-pstore-');
    const cache = join(base, 'parsed');
    writeFileSync(cache, 'a file where the directory would be');
    mkdirSync(join(base, 'other'));
    expect(plain(await load(inv, cache))).toEqual(plain(await loadInventory(inv, { only: 'titan-13' })));
    expect(readFileSync(cache, 'utf8')).toBe('a file where the directory would be');
  });
});
