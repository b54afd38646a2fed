import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Context } from './types.js';

/** In the state dir: what `BINARY --version` said, keyed by the binary's identity on disk. */
export const VERSION_CACHE_FILE = 'binary-versions.json';

interface Entry {
  key: string;
  version: string;
}

/**
 * A file's identity for the cache: device, inode, size, mtime and ctime in nanoseconds. Replacing or
 * rewriting the binary (install, cp, mv, an image update) changes at least the inode or the ctime,
 * and ctime cannot be set back from user space.
 */
async function identity(abs: string): Promise<string | null> {
  const s = await fsp.stat(abs, { bigint: true }).catch(() => null);
  return s ? [s.dev, s.ino, s.size, s.mtimeNs, s.ctimeNs].join(':') : null;
}

/**
 * The version a binary reports, run once per binary file: `probe` runs only when the binary is not
 * the file the cache last saw (a no-op boot spawns no `k3s --version`; on a Pi the k3s binary's own
 * start costs about a second). The cache is Metis's state, like the report, written in check mode
 * too; a failed write only means the next run probes again. A probe's null is never cached.
 */
export async function binaryVersion(ctx: Context, binary: string, probe: () => Promise<string | null>): Promise<string | null> {
  const file = join(ctx.stateDir, VERSION_CACHE_FILE);
  const key = await identity(ctx.fs.abs(binary));
  let cache: Record<string, Entry> = {};
  try {
    cache = JSON.parse((await ctx.host.readText(file)) ?? '{}') as Record<string, Entry>;
  } catch {
    // unreadable: probe, and write it anew
  }
  const hit = cache[binary];
  if (key && hit?.key === key && typeof hit.version === 'string') return hit.version;
  const version = await probe();
  // The file may have changed while it ran: cache only what was read from the file as it still is.
  if (version !== null && key && (await identity(ctx.fs.abs(binary))) === key) {
    cache[binary] = { key, version };
    await ctx.host.write(file, `${JSON.stringify(cache)}\n`, { mode: 0o644 }).catch(() => {});
  }
  return version;
}
