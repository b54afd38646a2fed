import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempRoot } from '../helpers/context.js';
import { BUNDLE, ensureBundle } from './bundle.js';

// The bundle's V8 code cache (src/bootstrap/code-cache.ts), through the real bundle and node: a run
// with CACHE_DIRECTORY writes the cache, the next run of the same kind uses it (V8 accepted it, so it
// is not rewritten), a bad cache is replaced silently, and a run's output never depends on it.
describe('bundle code cache', () => {
  const { root, cleanup } = tempRoot('metis-codecache-');
  const cache = join(root, 'cache');
  // An empty root: the run loads the whole engine, then stops at "no manifest" (exit 1).
  const sysroot = join(root, 'sys');
  const run = (args: string[], env: Record<string, string> = {}) => {
    const r = spawnSync(process.execPath, [BUNDLE, '--root', sysroot, '--check', ...args], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, CACHE_DIRECTORY: '', NODE_EXTRA_CA_CERTS: '', ...env },
    });
    return { code: r.status, out: r.stdout.replace(/"time":\d+/g, ''), err: r.stderr };
  };
  const files = () => readdirSync(cache).sort();
  beforeAll(() => {
    ensureBundle();
    mkdirSync(cache);
    mkdirSync(sysroot);
  });
  afterAll(() => cleanup());

  it('is written by the first run, used by the next, and changes no output', () => {
    const plain = run([]);
    expect(plain.code).toBe(1);
    expect(plain.out).toMatch(/E_NO_MANIFEST/);
    expect(files()).toEqual([]);

    const first = run([], { CACHE_DIRECTORY: cache });
    expect(first).toEqual(plain);
    expect(files()).toEqual([expect.stringMatching(new RegExp(`^bootstrap-[0-9a-f]{16}-full-${process.version}-${process.arch}\\.v8$`))]);
    const file = join(cache, files()[0]!);
    const st = statSync(file);
    expect(st.size).toBeGreaterThan(1000);
    expect(st.mode & 0o777).toBe(0o600);

    const second = run([], { CACHE_DIRECTORY: cache });
    expect(second).toEqual(plain);
    // Accepted by V8: not written again (a rewrite is a new file renamed over it).
    expect(statSync(file).ino).toBe(st.ino);
  });

  it('keeps one cache per kind of run (--tags) and drops caches of another bundle', () => {
    writeFileSync(join(cache, `bootstrap-0123456789abcdef-full-${process.version}-${process.arch}.v8`), 'old bundle');
    const tagged = run(['--tags', 'early'], { CACHE_DIRECTORY: cache });
    expect(tagged.code).toBe(1);
    const names = files();
    expect(names).toHaveLength(2);
    expect(names.some((f) => f.includes('-tags-'))).toBe(true);
    expect(names.some((f) => f.includes('-full-'))).toBe(true);
    expect(names.some((f) => f.startsWith('bootstrap-0123456789abcdef-'))).toBe(false);
  });

  it('falls back silently when V8 rejects the cache, and replaces it', () => {
    const plain = run([]);
    const file = join(cache, files().find((f) => f.includes('-full-'))!);
    writeFileSync(file, Buffer.alloc(4096, 7));
    const r = run([], { CACHE_DIRECTORY: cache });
    expect(r).toEqual(plain);
    expect(readFileSync(file).equals(Buffer.alloc(4096, 7))).toBe(false);
    // The replacement is accepted: the next run leaves it alone.
    const ino = statSync(file).ino;
    expect(run([], { CACHE_DIRECTORY: cache })).toEqual(plain);
    expect(statSync(file).ino).toBe(ino);
  });

  it('runs unchanged when the cache directory cannot be written', () => {
    const plain = run([]);
    expect(run([], { CACHE_DIRECTORY: join(root, 'missing/dir') })).toEqual(plain);
  });
});
