import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exampleManifestText, tempRoot } from '../helpers/context.js';
import { debianNode18 } from './debian-debs.js';
import { makeSysroot } from './sysroot.js';
import { BUNDLE, bundleNodeFlags, ensureBundle } from './bundle.js';

// The units' ExecStart wrapper (systemd/metis-bootstrap-start) with Debian 12's node 18 as `node`:
// the startup snapshot it builds and uses, and every way a snapshot can be refused.
const START = join(process.cwd(), 'systemd/metis-bootstrap-start');
const ENTRY = join(process.cwd(), 'systemd/metis-bootstrap-snapshot.js');
const node18 = debianNode18();
if ('skip' in node18) console.warn(`skip: startup snapshot with node 18: ${node18.skip}`);

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
// Timestamps, durations and the cache/snapshot outcome differ between two runs of the same work.
const VOLATILE = /"time":\d+|"durationMs":[\d.]+|"(load|facts|plan|apply|handlers|report|process|engine)Ms":[\d.]+|"codeCache":"\w+"|"startupSnapshot":\w+/g;

describe.skipIf('skip' in node18)("startup snapshot (metis-bootstrap-start, Debian 12's node 18)", () => {
  const { root, cleanup } = tempRoot('metis-snapshot-');
  const sys = join(root, 'sys');
  const cache = join(root, 'cache');
  const blob = join(cache, 'node-startup.blob');
  const bins = { node18: join(root, 'bin'), copy: join(root, 'bin-copy') };
  const args = ['--root', sys, '--manifest', join(sys, 'node.yaml')];

  /** A `node` on PATH: Debian's node 18 (or a copy of its binary: another node file, same version). */
  function shim(dir: string, nodePath?: string): void {
    const n = node18 as Exclude<typeof node18, { skip: string }>;
    const argv = n.argv([]);
    if (nodePath) argv[argv.length - 1] = nodePath;
    mkdirSync(dir, { recursive: true });
    const env = Object.entries(n.env).map(([k, v]) => `export ${k}=${q(v)}`).join('\n');
    writeFileSync(join(dir, 'node'), `#!/bin/sh\n${env}\nexec ${argv.map(q).join(' ')} "$@"\n`);
    chmodSync(join(dir, 'node'), 0o755);
  }
  const start = (argv: string[], opts: { cache?: boolean; bin?: string; bundle?: string } = {}) => {
    const r = spawnSync('sh', [START, ...argv], {
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        PATH: `${opts.bin ?? bins.node18}:${process.env.PATH}`,
        METIS_BOOTSTRAP_BIN: opts.bundle ?? BUNDLE,
        METIS_SNAPSHOT_ENTRY: ENTRY,
        NODE_EXTRA_CA_CERTS: '',
        ...(opts.cache === false ? {} : { CACHE_DIRECTORY: cache }),
      },
    });
    return { code: r.status, out: r.stdout, err: r.stderr, snapshot: /"startupSnapshot":(\w+)/.exec(r.stdout + r.stderr)?.[1] };
  };
  /** The background build after a boot run: bounded wait until the snapshot is in place. */
  async function built(): Promise<void> {
    for (let i = 0; i < 600; i++) {
      if (existsSync(blob) && !readdirSync(cache).some((f) => f.endsWith('.tmp'))) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no snapshot after 60 s: ${readdirSync(cache).join(', ')}`);
  }
  const buildWith = (flags: string[]) => {
    const [cmd, ...argv] = (node18 as Exclude<typeof node18, { skip: string }>).argv([...flags, '--snapshot-blob', blob, '--build-snapshot', ENTRY]);
    const r = spawnSync(cmd!, argv, { env: { ...process.env, ...(node18 as { env: Record<string, string> }).env }, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
  };

  beforeAll(() => {
    ensureBundle();
    makeSysroot(sys);
    writeFileSync(join(sys, 'node.yaml'), exampleManifestText);
    mkdirSync(cache, { mode: 0o700 });
    shim(bins.node18);
    // Another node binary file (same version and V8): what an in-place upgrade of node leaves.
    const n = node18 as Exclude<typeof node18, { skip: string }>;
    mkdirSync(bins.copy);
    copyFileSync(n.argv([]).at(-1)!, join(bins.copy, 'node18'));
    chmodSync(join(bins.copy, 'node18'), 0o755);
    shim(bins.copy, join(bins.copy, 'node18'));
  });
  afterAll(() => cleanup());

  it('without a cache directory (a run by hand) it is the bundle, run as its shebang runs it', () => {
    const n = node18 as Exclude<typeof node18, { skip: string }>;
    const [cmd, ...argv] = n.argv([...bundleNodeFlags(), BUNDLE, ...args, '--check']);
    const direct = spawnSync(cmd!, argv, { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...n.env, NODE_EXTRA_CA_CERTS: '', CACHE_DIRECTORY: '' } });
    const r = start([...args, '--check'], { cache: false });
    expect(r.code, r.err).toBe(2);
    expect(direct.status).toBe(2);
    expect(r.out.replace(VOLATILE, '')).toBe(direct.stdout.replace(VOLATILE, ''));
    expect(r.snapshot).toBe('false');
    expect(readdirSync(cache)).toEqual([]);
  });

  it('a run other than the boot run builds no snapshot', () => {
    const r = start([...args, '--check']);
    expect(r.code, r.err).toBe(2);
    expect(r.snapshot).toBe('false');
    expect(existsSync(blob)).toBe(false);
  });

  it('a boot run without one builds it after the run: in place atomically, 0600, nothing of the run in it', async () => {
    // What a build cut short by a shutdown leaves: removed by the next build.
    writeFileSync(join(cache, 'node-startup.blob.4242.tmp'), 'partial');
    const r = start([...args, '--check', '--boot']);
    expect(r.code, r.err).toBe(2);
    expect(r.snapshot).toBe('false');
    await built();
    expect(statSync(blob).mode & 0o777).toBe(0o600);
    const bytes = readFileSync(blob);
    for (const v of [/token: (\S+)/, /nodePassword: (\S+)/, /hostname: (\S+)/].map((re) => re.exec(exampleManifestText)![1]!)) expect(bytes.includes(v), v).toBe(false);
    expect(readdirSync(cache).filter((f) => f.startsWith('.snapshot-'))).toEqual([]);
  });

  it('with the snapshot: the same run, started from it; its exit codes are the run\'s, a failed run keeps the snapshot', async () => {
    if (!existsSync(blob)) start([...args, '--check', '--boot']);
    await built();
    const first = start([...args, '--check']);
    const plain = start([...args, '--check'], { cache: false });
    expect(first.code, first.err).toBe(2);
    expect(first.snapshot).toBe('true');
    expect(first.err).toBe('');
    expect(first.out.replace(VOLATILE, '')).toBe(plain.out.replace(VOLATILE, ''));
    // The bundle's path as given (relative here: the wrapper's cwd) is the main module's, as with `node BUNDLE`.
    const relative = start([...args, '--check'], { bundle: 'dist/metis-bootstrap.js' });
    expect(relative.code, relative.err).toBe(2);
    expect(relative.snapshot).toBe('true');
    // Exit 1 (could not run) from the run itself is not a refused snapshot.
    const bad = start(['--root', sys, '--manifest', join(sys, 'missing.yaml'), '--check']);
    expect(bad.code).toBe(1);
    expect(bad.out + bad.err).toContain('missing.yaml');
    expect(bad.err).not.toContain('refused');
    expect(existsSync(blob)).toBe(true);
    expect(readdirSync(cache).filter((f) => f.startsWith('.snapshot-'))).toEqual([]);
  });

  const refused: [string, () => void, string?][] = [
    ['a damaged file (cut short)', () => writeFileSync(blob, readFileSync(blob).subarray(0, 100_000))],
    ['one built with other V8 flags', () => buildWith([])],
    ['one built by another node binary (an upgrade in place)', () => {}, bins.copy],
  ];
  it.each(refused)('a snapshot this node refuses — %s — is removed and the run starts without it', async (_what, spoil, bin) => {
    rmSync(blob, { force: true });
    buildWith(bundleNodeFlags());
    spoil();
    // The mark of a run a shutdown cut short before it started: removed with the snapshot.
    writeFileSync(join(cache, '.snapshot-pending.4242'), '');
    const r = start([...args, '--check'], { bin });
    expect(r.code, r.err).toBe(2);
    expect(r.snapshot).toBe('false');
    expect(r.out).toMatch(/ok=\d+ changed=\d+ failed=0|"kind":"recap"/);
    expect(r.err).toMatch(/metis-bootstrap-start: .*node-startup\.blob refused by this node \(exit \d+\): removed; starting without it/);
    expect(existsSync(blob)).toBe(false);
    expect(readdirSync(cache).filter((f) => f.startsWith('.snapshot-'))).toEqual([]);
  });
});
