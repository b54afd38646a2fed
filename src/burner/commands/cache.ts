import { resolve } from 'node:path';
import { parseFlags } from '../../core/flags.js';
import { loadInventory } from '../../inventory/load.js';
import { defaultCacheDir, ImageCache } from '../source/cache.js';
import { UsageError } from './exit-codes.js';
import { humanSize, inventoryDir, type Io } from '../../inventory/io.js';

export const CACHE_USAGE = 'usage: metis cache ls|prune [--cache DIR] [--inventory DIR] [--all] [--json]';

/** `metis cache ls|prune`. prune keeps the images the inventory's classes pin by sha256 (all go with --all). */
export async function cacheCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags('cache', argv, { cache: { type: 'string' }, inventory: { type: 'string' }, all: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } });
  const cache = new ImageCache(resolve(values.cache ?? defaultCacheDir(io.env)));
  const sub = positionals[0];
  if (sub === 'ls' && positionals.length === 1) {
    const blobs = await cache.list();
    if (values.json) io.out(`${JSON.stringify(blobs)}\n`);
    else if (blobs.length === 0) io.out(`cache ${cache.dir} is empty\n`);
    else for (const b of blobs) io.out(`${b.sha256}  ${humanSize(b.size).padStart(10)}  ${b.refs.join(' ') || '-'}\n`);
    return 0;
  }
  if (sub === 'prune' && positionals.length === 1) {
    const keep = new Set<string>();
    if (!values.all) {
      const inv = await loadInventory(inventoryDir(values.inventory));
      for (const c of inv.classes.values()) if (c.def.image.sha256) keep.add(c.def.image.sha256);
    }
    const r = await cache.prune(keep);
    if (values.json) io.out(`${JSON.stringify(r)}\n`);
    else io.out(`removed ${r.removed.length} image(s), freed ${humanSize(r.freedBytes)}; kept ${keep.size} pinned by the inventory\n`);
    return 0;
  }
  throw new UsageError(CACHE_USAGE);
}
