import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { inventoryDir, type Io } from '../inventory/io.js';
import { capture, parseJsonOutput, type RunMetis } from './line-io.js';

export interface UiOptions {
  /** Passed on to the commands that take them, only when given to `metis ui`. */
  inventory?: string;
  cache?: string;
}

export interface CommandView {
  code: number;
  data?: unknown;
  text?: string;
  error?: string;
}

const view = (r: { code: number; out: string; err: string }, json = true): CommandView => ({
  code: r.code,
  ...(json ? { data: parseJsonOutput(r.out) } : { text: r.out }),
  ...(r.err ? { error: r.err } : {}),
});

export const invFlag = (o: UiOptions) => (o.inventory ? ['--inventory', o.inventory] : []);
export const cacheFlag = (o: UiOptions) => (o.cache ? ['--cache', o.cache] : []);

interface NodeRow {
  hostname: string;
  image?: string;
  escrowed?: boolean;
  [k: string]: unknown;
}
interface Blob {
  refs?: string[];
}

/** Escrowed identity lives sealed in the inventory: identity/NODE.age (or a folder identity/NODE/). */
async function escrowed(dir: string, node: string): Promise<boolean> {
  for (const p of [join(dir, 'identity', `${node}.age`), join(dir, 'identity', node)]) if (await stat(p).catch(() => null)) return true;
  return false;
}

/**
 * Step 1's table: `metis nodes --json`, each node's class image looked up in `metis cache ls --json`
 * (remote references only: a local path is its own cache), and its identity escrow.
 */
export async function nodesView(run: RunMetis, io: Io, o: UiOptions): Promise<CommandView> {
  const [nodes, cache] = await Promise.all([capture(run, io, ['nodes', '--json', ...invFlag(o)]), capture(run, io, ['cache', 'ls', '--json', ...cacheFlag(o)])]);
  const v = view(nodes);
  if (nodes.code !== 0 || !Array.isArray(v.data)) return v;
  const blobs = (cache.code === 0 ? parseJsonOutput(cache.out) : []) as Blob[];
  const cachedRefs = new Set((Array.isArray(blobs) ? blobs : []).flatMap((b) => b.refs ?? []));
  const dir = inventoryDir(o.inventory);
  const rows = await Promise.all(
    (v.data as NodeRow[]).map(async (n) => {
      const ref = n.image && n.image !== '-' ? n.image : '';
      const image = !ref ? 'none' : /^(oci|https?):\/\//.test(ref) ? (cachedRefs.has(ref) ? 'cached' : 'not cached') : 'local file';
      return { ...n, imageState: image, escrowed: n.escrowed ?? (await escrowed(dir, n.hostname)) };
    }),
  );
  return { ...v, data: rows, ...(cache.code !== 0 ? { error: cache.err } : {}) };
}

export async function statusView(run: RunMetis, io: Io, o: UiOptions): Promise<CommandView> {
  return view(await capture(run, io, ['status', '--json', ...invFlag(o)]));
}

export async function manifestView(run: RunMetis, io: Io, o: UiOptions, node: string): Promise<CommandView> {
  return view(await capture(run, io, ['manifest', node, ...invFlag(o)]), false);
}
