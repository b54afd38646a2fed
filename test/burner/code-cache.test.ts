import { spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliCacheSpec, cliParsedDir } from '../../src/burner/code-cache.js';
import { makeDemoImage } from '../../src/demo/image.js';
import { ensureBundle } from '../bootstrap/bundle.js';
import { tempDir, tempDirs } from './fixtures.js';

const dir = tempDirs('metis-cli-cache-');
const uid = process.geteuid!();
const METIS = join(process.cwd(), 'dist/metis.js');
const TOKEN = `K10${'cd'.repeat(32)}::server:cachetest`;
const inventory = join(process.cwd(), 'inventory');

describe('cliCacheSpec: where the CLI keeps its V8 code cache', () => {
  if (uid !== 0) console.warn('skip: the base-owned-by-another-user case needs root (chown)');
  it.each([
    ['XDG_CACHE_HOME owned by the user', ['nodes'], (d: string) => ({ XDG_CACHE_HOME: d }), (d: string) => join(d, 'metis/v8'), 'nodes'],
    ['HOME/.cache when XDG_CACHE_HOME is unset', ['burn', 'x'], (d: string) => (mkdirSync(join(d, '.cache')), { HOME: d, XDG_CACHE_HOME: '' }), (d: string) => join(d, '.cache/metis/v8'), 'burn'],
    ['turned off', ['nodes'], (d: string) => ({ XDG_CACHE_HOME: d, METIS_CODE_CACHE: 'off' }), () => undefined, 'nodes'],
    ['a base not there yet, in a directory the user owns (made with the cache)', ['nodes'], (d: string) => ({ XDG_CACHE_HOME: join(d, 'missing') }), (d: string) => join(d, 'missing/metis/v8'), 'nodes'],
    ['a base whose parent is missing too: none (only one level is made)', ['nodes'], (d: string) => ({ XDG_CACHE_HOME: join(d, 'missing/deeper') }), () => undefined, 'nodes'],
    ['a base that is a file: none', ['nodes'], (d: string) => (writeFileSync(join(d, 'f'), ''), { XDG_CACHE_HOME: join(d, 'f') }), () => undefined, 'nodes'],
    ['a relative XDG_CACHE_HOME is ignored: HOME/.cache, not there yet', ['nodes'], (d: string) => ({ XDG_CACHE_HOME: 'rel', HOME: d }), (d: string) => join(d, '.cache/metis/v8'), 'nodes'],
    ['an odd first word is the variant "other"', ['--version'], (d: string) => ({ XDG_CACHE_HOME: d }), (d: string) => join(d, 'metis/v8'), 'other'],
    ['the flashing host agent: inside its --cache', ['burn-agent', 'burn', '--cache', '@'], (d: string) => ({ XDG_CACHE_HOME: '/nonexistent' }), (d: string) => join(d, 'v8'), 'agent-burn'],
    ['the agent with a relative --cache: none', ['burn-agent', 'receive', '--cache', 'rel'], () => ({}), () => undefined, 'other'],
  ])('%s', (_name, argv, envOf, want, variant) => {
    const d = dir();
    const env = envOf(d) as NodeJS.ProcessEnv;
    const spec = cliCacheSpec(argv.map((a) => (a === '@' ? d : a)), env, uid);
    expect(spec.dir).toBe(want(d));
    if (spec.dir) expect(spec.variant).toBe(variant);
  });

  it.each([
    ['beside the code cache', (d: string) => ({ XDG_CACHE_HOME: d }), (d: string) => join(d, 'metis/parsed')],
    ['turned off with the code cache', (d: string) => ({ XDG_CACHE_HOME: d, METIS_CODE_CACHE: 'off' }), () => undefined],
    ['no base the user owns or could make', (d: string) => ({ XDG_CACHE_HOME: join(d, 'missing/deeper') }), () => undefined],
  ])('cliParsedDir: %s', (_name, envOf, want) => {
    const d = dir();
    expect(cliParsedDir(envOf(d) as NodeJS.ProcessEnv, uid)).toBe(want(d));
  });

  it.runIf(uid === 0)('never writes into a base another user owns (sudo with the user\'s HOME)', () => {
    const d = dir();
    chownSync(d, 65534, 65534);
    expect(cliCacheSpec(['nodes'], { XDG_CACHE_HOME: d }, 0).dir).toBeUndefined();
    expect(cliCacheSpec(['burn-agent', 'burn', '--cache', d], {}, 0).dir).toBeUndefined();
    expect(cliCacheSpec(['nodes'], { XDG_CACHE_HOME: d }, 65534).dir).toBe(join(d, 'metis/v8'));
    // Nor makes a base inside a directory another user owns (sudo keeping a user's HOME, no ~/.cache yet).
    expect(cliCacheSpec(['nodes'], { XDG_CACHE_HOME: '', HOME: d }, 0).dir).toBeUndefined();
    expect(cliCacheSpec(['nodes'], { XDG_CACHE_HOME: '', HOME: d }, 65534).dir).toBe(join(d, '.cache/metis/v8'));
  });
});

describe('the CLI bundle with its code cache (real node, real bundle)', () => {
  beforeAll(() => {
    ensureBundle();
  });
  const run = (args: string[], env: Record<string, string>) => {
    const r = spawnSync(process.execPath, [METIS, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, METIS_CODE_CACHE: '', METIS_K3S_TOKEN: TOKEN, ...env } });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  it('the first run of a command writes its cache (0600 in a 0700 dir), the next uses it unchanged, output identical', () => {
    const d = dir();
    const args = ['nodes', '--inventory', inventory];
    const plain = run(args, { XDG_CACHE_HOME: d, METIS_CODE_CACHE: 'off' });
    expect(plain.code).toBe(0);
    expect(readdirSync(d)).toEqual([]);
    const first = run(args, { XDG_CACHE_HOME: d });
    expect(first).toEqual(plain);
    const v8 = join(d, 'metis/v8');
    expect(statSync(v8).mode & 0o777).toBe(0o700);
    const files = readdirSync(v8);
    expect(files).toEqual([expect.stringMatching(new RegExp(`^metis-[0-9a-f]{16}-nodes-${process.version}-${process.arch}\\.v8$`))]);
    const st = statSync(join(v8, files[0]!));
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.size).toBeGreaterThan(10_000);
    expect(run(args, { XDG_CACHE_HOME: d })).toEqual(plain);
    // Accepted by V8: not written again (a rewrite is a new file renamed over it).
    expect(statSync(join(v8, files[0]!)).ino).toBe(st.ino);
  });

  it('a fresh home without ~/.cache: the first run makes it 0700 with the cache, the next uses it', () => {
    const d = dir();
    const args = ['nodes', '--inventory', inventory];
    const first = run(args, { HOME: d, XDG_CACHE_HOME: '' });
    expect(first.code, first.err).toBe(0);
    const base = join(d, '.cache');
    for (const p of [base, join(base, 'metis'), join(base, 'metis/v8')]) expect(statSync(p).mode & 0o777, p).toBe(0o700);
    const files = readdirSync(join(base, 'metis/v8'));
    expect(files).toHaveLength(1);
    const st = statSync(join(base, 'metis/v8', files[0]!));
    expect(run(args, { HOME: d, XDG_CACHE_HOME: '' })).toEqual(first);
    expect(statSync(join(base, 'metis/v8', files[0]!)).ino).toBe(st.ino);
  });

  it('holds no secret of the run: a manifest shown with --reveal-secrets leaves no token in the cache', () => {
    const d = dir();
    const r = run(['manifest', 'titan-13', '--inventory', inventory, '--reveal-secrets'], { XDG_CACHE_HOME: d, SOPS_AGE_KEY_FILE: join(inventory, 'demo-age-key.txt') });
    expect(r.code).toBe(0);
    expect(r.out).toContain(TOKEN);
    const v8 = join(d, 'metis/v8');
    const files = readdirSync(v8);
    expect(files).toHaveLength(1);
    const bytes = readFileSync(join(v8, files[0]!));
    for (const needle of [TOKEN, 'cachetest', 'titan-13']) expect(bytes.includes(Buffer.from(needle))).toBe(false);
  });
});

describe('the CLI bundle keeps its inventory parses (real node, real bundle)', () => {
  const imgDir = tempDir('metis-cli-parsed-');
  const img = join(imgDir.dir, 'class.img');
  beforeAll(async () => {
    ensureBundle();
    await makeDemoImage(img, imgDir.dir, { fat: 'own' });
  });
  afterAll(() => imgDir.cleanup());
  const burn = (d: string, env: Record<string, string>) => {
    const args = ['burn', 'titan-13', '--to', join(d, 'out.img'), '--image', img, '--no-verify', '--yes', '--inventory', inventory, '--cache', join(d, 'cache')];
    const r = spawnSync(process.execPath, [METIS, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, METIS_CODE_CACHE: '', METIS_K3S_TOKEN: TOKEN, XDG_CACHE_HOME: d, ...env } });
    return { code: r.status, err: r.stderr };
  };

  it('a burn keeps them 0600 in a 0700 dir, without the token; the next burn uses them and writes nothing', () => {
    const d = dir();
    const first = burn(d, {});
    expect(first.code, first.err).toBe(0);
    const parsed = join(d, 'metis/parsed');
    expect(statSync(parsed).mode & 0o777).toBe(0o700);
    const files = readdirSync(parsed);
    expect(files).toEqual([expect.stringMatching(/^inventory-[0-9a-z]+\.json$/)]);
    const file = join(parsed, files[0]!);
    const st = statSync(file);
    expect(st.mode & 0o777).toBe(0o600);
    const text = readFileSync(file, 'utf8');
    // Every file of the inventory is kept (none holds a secret), and the run's token is not there.
    const yamlCount = 1 + ['classes', 'nodes'].reduce((n, sub) => n + readdirSync(join(inventory, sub)).filter((f) => /\.ya?ml$/.test(f)).length, 0);
    expect(Object.keys((JSON.parse(text) as { entries: object }).entries)).toHaveLength(yamlCount);
    for (const needle of [TOKEN, 'cachetest']) expect(text).not.toContain(needle);
    const second = burn(d, {});
    expect(second.code, second.err).toBe(0);
    expect(statSync(file).ino).toBe(st.ino);
    expect(statSync(file).mtimeMs).toBe(st.mtimeMs);
  });

  it('METIS_CODE_CACHE=off keeps nothing', () => {
    const d = dir();
    const r = burn(d, { METIS_CODE_CACHE: 'off' });
    expect(r.code, r.err).toBe(0);
    expect(readdirSync(d).filter((f) => f === 'metis')).toEqual([]);
  });
});
