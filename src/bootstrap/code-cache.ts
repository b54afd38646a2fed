// metis-bootstrap's V8 code cache (the loader is src/core/code-cache.ts). The cache is used only
// where systemd gives the run a cache directory (`CacheDirectory=` in the units sets
// CACHE_DIRECTORY); a run by hand, a chroot or a test changes no cache.
import { cacheDirOf } from './cache-dir.js';
import { cacheFileOf, type CodeCacheOutcome, loadWithCodeCache as load } from '../core/code-cache.js';

export type { CodeCacheOutcome };

/** One cache per kind of run: a `--tags` run (early phase) runs other code than a full converge. */
function variant(argv: readonly string[]): string {
  return argv.includes('--tags') ? 'tags' : 'full';
}

export function cacheFile(dir: string, hash: string, argv: readonly string[]): string {
  return cacheFileOf({ dir, prefix: 'bootstrap', variant: variant(argv) }, hash);
}

/** Compiles and runs the engine, with a code cache in `env.CACHE_DIRECTORY` when set. */
export function loadWithCodeCache(code: string, hash: string, req: NodeRequire, filename: string, dirname: string, env: NodeJS.ProcessEnv = process.env): { exports: unknown; outcome: CodeCacheOutcome } {
  return load(code, hash, req, filename, dirname, { dir: cacheDirOf(env), prefix: 'bootstrap', variant: variant(process.argv.slice(2)) });
}
