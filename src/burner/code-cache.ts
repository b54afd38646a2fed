// The metis CLI's V8 code cache (the loader is src/core/code-cache.ts): every command starts node
// and ~1.7 MB of JavaScript, and a burn waits for that before its first write. Decision: the cache
// lives in the user's cache directory (`$XDG_CACHE_HOME/metis/v8`, else `~/.cache/metis/v8`), one
// file per command, written 0600 by the run that lacked it. It holds compiled code only (no
// manifest, token or path of a run: a test searches it). It is written only into a base directory
// the running user owns (or makes, 0700, in a directory the user owns: a fresh machine's ~/.cache),
// so `sudo metis …` with a user's HOME never leaves root-owned files in that home; the flashing
// host's agent keeps its cache in the host cache it was given (`--cache DIR`), under the same rule.
// `METIS_CODE_CACHE=off` turns it off (the tests do, so runs leave nothing in the home directory).
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CodeCacheSpec } from '../core/code-cache.js';
import { cacheHome } from '../core/xdg.js';

const owned = (dir: string, uid: number): boolean => {
  try {
    const st = statSync(dir);
    return st.isDirectory() && st.uid === uid;
  } catch {
    return false;
  }
};

/**
 * A base the user owns, or one that is not there yet in a directory the user owns (a fresh
 * machine's `~/.cache`: created 0700 with the cache, as every XDG program does). Never one that
 * another user owns, or that would be made in another user's directory (`sudo` keeping HOME).
 */
const usable = (base: string, uid: number): boolean => owned(base, uid) || (!existsSync(base) && owned(dirname(base), uid));

/** Where this run's cache is, if anywhere. */
export function cliCacheSpec(argv: readonly string[], env: NodeJS.ProcessEnv, uid = process.geteuid?.() ?? -1): CodeCacheSpec {
  const cmd = argv[0] ?? '';
  const spec: CodeCacheSpec = { prefix: 'metis', variant: /^[a-z][a-z-]{0,23}$/.test(cmd) ? cmd : 'other', create: true };
  if (env.METIS_CODE_CACHE === 'off' || uid < 0) return spec;
  if (cmd === 'burn-agent') {
    const i = argv.indexOf('--cache');
    const hostCache = i > 0 ? argv[i + 1] : undefined;
    return hostCache?.startsWith('/') && owned(hostCache, uid) ? { ...spec, dir: join(hostCache, 'v8'), variant: `agent-${argv[1] === 'receive' ? 'receive' : 'burn'}` } : spec;
  }
  const base = cacheHome(env);
  return usable(base, uid) ? { ...spec, dir: join(base, 'metis', 'v8') } : spec;
}

/**
 * Where the CLI keeps its parses of the inventory (src/inventory/parse-store.ts): `parsed/` beside
 * the code cache's `v8/`, under the same rules (a base the user owns; off with METIS_CODE_CACHE=off).
 */
export function cliParsedDir(env: NodeJS.ProcessEnv, uid = process.geteuid?.() ?? -1): string | undefined {
  const v8 = cliCacheSpec(['burn'], env, uid).dir;
  return v8 ? join(dirname(v8), 'parsed') : undefined;
}
