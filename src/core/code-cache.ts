// Loads a bundle's main module (embedded as one string by scripts/build.mjs) with a V8 code cache.
// On a Pi, under emulation, or for a CLI that starts for every command, compiling ~1.5 MB of
// JavaScript is a large part of a short run; with the cache V8 skips parsing and compiling every
// function the last run of the same kind used.
//
// Who uses it: metis-bootstrap (only where systemd gives the run a cache directory,
// src/bootstrap/code-cache.ts) and the metis CLI (the user's own cache directory,
// src/burner/code-cache.ts). The cache is produced by the node that consumes it, on its first run:
// same node version, arch and V8 flags, which is what V8 checks. V8 checks a cache against the
// source's length only, so the file name carries a hash of the code: a new bundle never reads an
// old bundle's cache. A missing, rejected or unreadable cache falls back to a plain compile, and a
// fresh cache is written when the run exits; a cache that cannot be written is skipped silently
// (the run itself never depends on it).
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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

/** Where a run's cache lives: no `dir` means no cache. `variant` names the kind of run (different code runs). */
export interface CodeCacheSpec {
  dir?: string;
  /** The file name's first word: a directory may hold caches of several bundles. */
  prefix: string;
  variant: string;
  /** Create `dir` (0700) when it is missing (the CLI's own cache directory). */
  create?: boolean;
}

export function cacheFileOf(spec: Required<Pick<CodeCacheSpec, 'dir' | 'prefix' | 'variant'>>, hash: string): string {
  return join(spec.dir, `${spec.prefix}-${hash}-${spec.variant}-${process.version}-${process.arch}.v8`);
}

/**
 * Compiles and runs `code` as a CommonJS module, with a code cache as `spec` says. Returns the
 * module's exports; `outcome` says what became of the cache (tests, timings).
 */
export function loadWithCodeCache(code: string, hash: string, req: NodeRequire, filename: string, dirname: string, spec: CodeCacheSpec): { exports: unknown; outcome: CodeCacheOutcome } {
  const { dir } = spec;
  const file = dir ? cacheFileOf({ dir, prefix: spec.prefix, variant: spec.variant }, hash) : undefined;
  let cachedData: Buffer | undefined;
  if (file) {
    try {
      cachedData = readFileSync(file);
    } catch {
      cachedData = undefined;
    }
  }
  // Which engine this is, for caches of what it computes (the bootstrap's parsed manifest).
  (globalThis as { __METIS_ENGINE_HASH__?: string }).__METIS_ENGINE_HASH__ = hash;
  const script = new Script(HEAD + code + TAIL, { filename: `${filename}#main`, ...(cachedData ? { cachedData } : {}) });
  const mod = { exports: {} as unknown };
  (script.runInThisContext() as (...a: unknown[]) => void)(mod.exports, req, mod, filename, dirname);
  const status: CodeCacheOutcome['status'] = !file ? 'off' : !cachedData ? 'absent' : script.cachedDataRejected ? 'rejected' : 'used';
  // For the run's start event (the engine is compiled apart from this module, so a global carries it).
  (globalThis as { __METIS_CODE_CACHE__?: string }).__METIS_CODE_CACHE__ = status;
  // Written at exit, not now: by then V8 has compiled every function this run used, and the cache
  // carries them all.
  if (file && dir && status !== 'used') process.once('exit', () => saveCache(script, dir, file, `${spec.prefix}-`, `${spec.prefix}-${hash}-`, spec.create ?? false));
  return { exports: mod.exports, outcome: { file, status } };
}

function saveCache(script: Script, dir: string, file: string, mine: string, keepPrefix: string, create: boolean): void {
  try {
    if (create) mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
    renameSync(tmp, file);
    // Caches of an older bundle or node are dead weight; the other kinds of run of this bundle keep theirs.
    for (const f of readdirSync(dir)) {
      if (!f.startsWith(mine) || !/\.v8(\.\d+\.tmp)?$/.test(f) || f.endsWith(`.${process.pid}.tmp`)) continue;
      if (f.startsWith(keepPrefix) && f.endsWith(`-${process.version}-${process.arch}.v8`)) continue;
      rmSync(join(dir, f), { force: true });
    }
  } catch {
    // No cache this time (read-only or full disk): the next run compiles plainly again.
  }
}
