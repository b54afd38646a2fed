// Loads the bundle's main module (embedded as one string by scripts/build.mjs) with a V8 code cache.
// On a Pi or under emulation, compiling ~1.3 MB of JavaScript is a large part of a boot-time run;
// with the cache V8 skips parsing and compiling every function the last run of the same kind used.
//
// The cache is used only where systemd gives the run a cache directory (`CacheDirectory=` in the
// units sets CACHE_DIRECTORY); a run by hand, a chroot or a test changes no cache. It is produced by
// the node that consumes it, on its first run: same node version, arch and V8 flags, which is what V8
// checks. V8 checks a cache against the source's length only, so the file name carries a hash of the
// code: a new bundle never reads an old bundle's cache. A missing, rejected or unreadable cache
// falls back to a plain compile, and a fresh cache is written when the run exits; a cache that
// cannot be written is skipped silently (the run itself never depends on it).
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Script } from 'node:vm';

const HEAD = '(function (exports, require, module, __filename, __dirname) {';
const TAIL = '\n})';

export interface CodeCacheOutcome {
  /** The cache file, when the run has a cache directory. */
  file?: string;
  /** used: V8 accepted it; rejected: V8 refused it (other node/flags); absent: none yet. */
  status: 'off' | 'used' | 'rejected' | 'absent';
}

/** One cache per kind of run: a `--tags` run (early phase) runs other code than a full converge. */
function variant(argv: readonly string[]): string {
  return argv.includes('--tags') ? 'tags' : 'full';
}

export function cacheFile(dir: string, hash: string, argv: readonly string[]): string {
  return join(dir, `bootstrap-${hash}-${variant(argv)}-${process.version}-${process.arch}.v8`);
}

/**
 * Compiles and runs `code` as a CommonJS module, with a code cache in `env.CACHE_DIRECTORY` when
 * set. Returns the module's exports; `outcome` says what became of the cache (tests, timings).
 */
export function loadWithCodeCache(
  code: string,
  hash: string,
  req: NodeRequire,
  filename: string,
  dirname: string,
  env: NodeJS.ProcessEnv = process.env,
): { exports: unknown; outcome: CodeCacheOutcome } {
  // systemd passes several directories colon-separated when a unit names several.
  const dir = env.CACHE_DIRECTORY?.split(':')[0];
  const file = dir ? cacheFile(dir, hash, process.argv.slice(2)) : undefined;
  let cachedData: Buffer | undefined;
  if (file) {
    try {
      cachedData = readFileSync(file);
    } catch {
      cachedData = undefined;
    }
  }
  const script = new Script(HEAD + code + TAIL, { filename: `${filename}#main`, ...(cachedData ? { cachedData } : {}) });
  const mod = { exports: {} as unknown };
  (script.runInThisContext() as (...a: unknown[]) => void)(mod.exports, req, mod, filename, dirname);
  const status: CodeCacheOutcome['status'] = !file ? 'off' : !cachedData ? 'absent' : script.cachedDataRejected ? 'rejected' : 'used';
  // For the run's start event (the engine is compiled apart from this module, so a global carries it).
  (globalThis as { __METIS_CODE_CACHE__?: string }).__METIS_CODE_CACHE__ = status;
  // Written at exit, not now: by then V8 has compiled every function this run used, and the cache
  // carries them all.
  if (file && dir && status !== 'used') process.once('exit', () => saveCache(script, dir, file));
  return { exports: mod.exports, outcome: { file, status } };
}

function saveCache(script: Script, dir: string, file: string): void {
  try {
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
    renameSync(tmp, file);
    // Caches of an older bundle or node are dead weight; the other kind of run keeps its own.
    const keep = new Set([file, cacheFile(dir, hashOf(file), ['--tags']), cacheFile(dir, hashOf(file), [])]);
    for (const f of readdirSync(dir)) {
      if (/^bootstrap-.*\.v8(\.\d+\.tmp)?$/.test(f) && !keep.has(join(dir, f)) && !f.endsWith(`.${process.pid}.tmp`)) rmSync(join(dir, f), { force: true });
    }
  } catch {
    // No cache this time (read-only or full disk): the next run compiles plainly again.
  }
}

function hashOf(file: string): string {
  return /bootstrap-([0-9a-f]+)-/.exec(file)?.[1] ?? '';
}
