import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { LineCounter, parse, parseDocument } from 'yaml';
import type { z } from 'zod';
import { type Issue, MetisError, ValidationError } from '../lib/errors.js';
import { hostAddressProblem, inSubnet } from '../manifest/fields.js';
import { MAX_YAML_BYTES, parseBounded } from '../manifest/bounded-yaml.js';
import { lineOf, secretShapes, validateParsed } from '../manifest/load.js';
import { findSecrets } from '../manifest/secret.js';
import { readBounded } from '../manifest/read-bounded.js';
import type { ParseStore } from './parse-store.js';
import { type ClassDef, type ClusterDef, type NodeDef, classSchema, clusterSchema, nodeSchema } from './schema.js';

export interface Sourced<T> {
  def: T;
  file: string;
  text: string;
}

export interface Inventory {
  dir: string;
  cluster: Sourced<ClusterDef>;
  classes: Map<string, Sourced<ClassDef>>;
  /** Keyed by hostname, in file-name order. */
  nodes: Map<string, Sourced<NodeDef>>;
  /** Node files skipped because they are broken and do not concern the node asked for (see `only`). */
  warnings: InventoryWarning[];
}

export interface InventoryWarning {
  file: string;
  message: string;
}

export interface LoadOptions {
  /**
   * The one node this run is about (a burn). A broken node file that is not that node's is then a
   * warning, not an error, so one bad file cannot block an emergency burn of another node; a file
   * that names that node's hostname or address, or is named after it, still stops the run.
   */
  only?: string;
  /**
   * Hears cluster.yaml as soon as it is read and valid, before the classes and nodes are judged: a burn
   * through a flashing host starts its SSH handshake there (the host may be a `flashers:` name).
   */
  onCluster?: (cluster: Sourced<ClusterDef>) => void;
  /** Parses of earlier loads (parse-store.ts): a kept text skips the YAML parse, never validation. */
  parsed?: ParseStore;
}

/** hostname and address of a node file that failed validation, read as leniently as possible. */
function looseIdentity(text: string): { hostname?: string; ip?: string } {
  try {
    const raw = parse(text) as { hostname?: unknown; address?: unknown } | null;
    return {
      hostname: typeof raw?.hostname === 'string' ? raw.hostname : undefined,
      ip: typeof raw?.address === 'string' ? raw.address.split('/')[0] : undefined,
    };
  } catch {
    return {};
  }
}

/** The text validated with `schema`, its parse taken from or given to `store`. */
function parseWith<S extends z.ZodType>(schema: S, text: string, file: string, store: ParseStore | undefined): z.output<S> {
  const kept = store?.get(text);
  if (kept) {
    const r = schema.safeParse(kept.data);
    if (r.success) return r.data;
  }
  const parsed = parseBounded(text, file);
  const def = validateParsed(schema, parsed, file);
  store?.put(text, parsed.data, [...findSecrets(schema, parsed.data).map((s) => s.value), ...secretShapes(text)]);
  return def;
}

type Read = Promise<{ data: Buffer; truncated: boolean }>;

/** Reads at most this many inventory files at once (an inventory of hundreds of nodes stays far from the fd limit). */
const READ_AHEAD = 8;

/**
 * Starts reading `files` now, at most READ_AHEAD at a time, in order: the reads wait on the kernel
 * together instead of one after another (open, stat, read, close each go through libuv's pool).
 * Each result, or error, waits for its turn in readYaml: files are still judged in order, and a
 * file after the first bad one is only ever read, never reported.
 */
function readAhead(files: readonly string[]): Read[] {
  const reads: Read[] = [];
  for (let i = 0; i < files.length; i++) {
    const slot = i >= READ_AHEAD ? reads[i - READ_AHEAD]!.then(() => undefined, () => undefined) : Promise.resolve();
    const read = slot.then(() => readBounded(files[i]!, MAX_YAML_BYTES));
    read.catch(() => {});
    reads.push(read);
  }
  return reads;
}

/** A directory's YAML files, each one's read already started (see readAhead). */
function listAhead(dir: string): Promise<Array<{ file: string; read: Read }>> {
  const list = yamlFiles(dir).then((files) => {
    const reads = readAhead(files);
    return files.map((file, i) => ({ file, read: reads[i]! }));
  });
  list.catch(() => {});
  return list;
}

async function readYaml<S extends z.ZodType>(schema: S, file: string, store?: ParseStore, read: Read = readBounded(file, MAX_YAML_BYTES)): Promise<Sourced<z.output<S>>> {
  const { data, truncated } = await read.catch((e: NodeJS.ErrnoException) => {
    throw new MetisError('E_INVENTORY', `cannot read ${file} (${e.code ?? 'error'})`, { file, cause: e });
  });
  if (truncated) throw new ValidationError(file, [{ path: '', line: 1, message: `file is larger than ${MAX_YAML_BYTES} bytes (1 MiB): refused unread` }]);
  const text = data.toString('utf8');
  return { def: parseWith(schema, text, file, store), file, text };
}

async function yamlFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
    throw new MetisError('E_INVENTORY', `cannot read inventory directory ${dir} (${e.code ?? 'error'})`, { file: dir, cause: e });
  });
  return names.filter((n) => /\.ya?ml$/.test(n)).sort().map((n) => join(dir, n));
}

export function lineIn(text: string, path: (string | number)[]): number | undefined {
  const lc = new LineCounter();
  return lineOf(parseDocument(text, { lineCounter: lc }), lc, path);
}

function issueAt(s: Sourced<unknown>, path: (string | number)[], message: string): ValidationError {
  const issue: Issue = { path: path.join('.'), message, line: lineIn(s.text, path) };
  return new ValidationError(s.file, [issue]);
}

/** Reads and cross-checks DIR/cluster.yaml, DIR/classes/*.yaml, DIR/nodes/*.yaml. Throws on the first bad file. */
export async function loadInventory(dir: string, opts: LoadOptions = {}): Promise<Inventory> {
  const store = opts.parsed;
  // Every file's read starts now; each is judged in the order below, as if read one by one.
  const clusterFile = join(dir, 'cluster.yaml');
  const [clusterRead] = readAhead([clusterFile]);
  const classList = listAhead(join(dir, 'classes'));
  const nodeList = listAhead(join(dir, 'nodes'));
  const cluster = await readYaml(clusterSchema, clusterFile, store, clusterRead);
  opts.onCluster?.(cluster);
  const classes = new Map<string, Sourced<ClassDef>>();
  for (const { file, read } of await classList) {
    const c = await readYaml(classSchema, file, store, read);
    const stem = basename(file).replace(/\.ya?ml$/, '');
    if (c.def.name !== undefined && c.def.name !== stem) throw issueAt(c, ['name'], `class name "${c.def.name}" must match its file name "${stem}"`);
    classes.set(stem, c);
  }
  const nodes = new Map<string, Sourced<NodeDef>>();
  const byAddress = new Map<string, Sourced<NodeDef>>();
  const broken: Array<{ file: string; error: unknown; hostname?: string; ip?: string }> = [];
  for (const { file, read } of await nodeList) {
    let n: Sourced<NodeDef>;
    try {
      n = await readYaml(nodeSchema, file, store, read);
      checkNode(n, classes, cluster);
    } catch (error) {
      if (opts.only === undefined) throw error;
      const text = await readBounded(file, MAX_YAML_BYTES).then((r) => r.data.toString('utf8'), () => '');
      broken.push({ file, error, ...looseIdentity(text) });
      continue;
    }
    const prev = nodes.get(n.def.hostname);
    if (prev) throw issueAt(n, ['hostname'], `duplicate hostname ${n.def.hostname} (also in ${prev.file})`);
    const ip = n.def.address.split('/')[0]!;
    const prevAddr = byAddress.get(ip);
    if (prevAddr) throw issueAt(n, ['address'], `duplicate address ${ip} (also ${prevAddr.def.hostname} in ${prevAddr.file})`);
    nodes.set(n.def.hostname, n);
    byAddress.set(ip, n);
  }
  const warnings: InventoryWarning[] = [];
  if (opts.only !== undefined) {
    const target = nodes.get(opts.only);
    for (const b of broken) {
      const stem = basename(b.file).replace(/\.ya?ml$/, '');
      // The node asked for, or one that may claim its name or address: never skipped.
      const concerns = !target || stem === opts.only || b.hostname === opts.only || (b.ip !== undefined && b.ip === target.def.address.split('/')[0]);
      if (concerns) throw b.error;
      const first = (b.error instanceof Error ? b.error.message : String(b.error)).split('\n').slice(0, 2).join(' ').replace(/\s+/g, ' ');
      warnings.push({ file: b.file, message: `${b.file} is invalid and was skipped (it does not concern ${opts.only}): ${first}` });
    }
  }
  store?.save();
  return { dir, cluster, classes, nodes, warnings };
}

/** The checks of one node file against the classes and the cluster. */
function checkNode(n: Sourced<NodeDef>, classes: Map<string, Sourced<ClassDef>>, cluster: Sourced<ClusterDef>): void {
  const ip = n.def.address.split('/')[0]!;
  const cls = classes.get(n.def.class);
  if (!cls) throw issueAt(n, ['class'], `unknown class "${n.def.class}" (classes: ${[...classes.keys()].join(', ') || 'none'})`);
  const subnet = cls.def.network.subnet ?? cluster.def.network.subnet;
  if (subnet && !inSubnet(subnet, ip)) throw issueAt(n, ['address'], `address ${ip} is outside the subnet ${subnet}`);
  if (subnet && n.def.address.split('/')[1] !== subnet.split('/')[1]) {
    throw issueAt(n, ['address'], `prefix /${n.def.address.split('/')[1]} differs from the subnet ${subnet}`);
  }
  const problem = hostAddressProblem(n.def.address, n.def.gateway ?? cls.def.network.gateway ?? cluster.def.network.gateway);
  if (problem) throw issueAt(n, ['address'], problem);
}
