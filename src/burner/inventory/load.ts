import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { type Issue, MetisError, ValidationError } from '../../lib/errors.js';
import { inSubnet } from '../../manifest/fields.js';
import { MAX_YAML_BYTES } from '../../manifest/bounded-yaml.js';
import { lineOf, parseYamlWith } from '../../manifest/load.js';
import { readBounded } from '../../manifest/read-bounded.js';
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
}

async function readYaml<S extends z.ZodType>(schema: S, file: string): Promise<Sourced<z.output<S>>> {
  const { data, truncated } = await readBounded(file, MAX_YAML_BYTES).catch((e: NodeJS.ErrnoException) => {
    throw new MetisError('E_INVENTORY', `cannot read ${file} (${e.code ?? 'error'})`, { file, cause: e });
  });
  if (truncated) throw new ValidationError(file, [{ path: '', line: 1, message: `file is larger than ${MAX_YAML_BYTES} bytes (1 MiB): refused unread` }]);
  const text = data.toString('utf8');
  return { def: parseYamlWith(schema, text, file), file, text };
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
export async function loadInventory(dir: string): Promise<Inventory> {
  const cluster = await readYaml(clusterSchema, join(dir, 'cluster.yaml'));
  const classes = new Map<string, Sourced<ClassDef>>();
  for (const file of await yamlFiles(join(dir, 'classes'))) {
    const c = await readYaml(classSchema, file);
    const stem = basename(file).replace(/\.ya?ml$/, '');
    if (c.def.name !== undefined && c.def.name !== stem) throw issueAt(c, ['name'], `class name "${c.def.name}" must match its file name "${stem}"`);
    classes.set(stem, c);
  }
  const nodes = new Map<string, Sourced<NodeDef>>();
  const byAddress = new Map<string, Sourced<NodeDef>>();
  for (const file of await yamlFiles(join(dir, 'nodes'))) {
    const n = await readYaml(nodeSchema, file);
    const prev = nodes.get(n.def.hostname);
    if (prev) throw issueAt(n, ['hostname'], `duplicate hostname ${n.def.hostname} (also in ${prev.file})`);
    const ip = n.def.address.split('/')[0]!;
    const prevAddr = byAddress.get(ip);
    if (prevAddr) throw issueAt(n, ['address'], `duplicate address ${ip} (also ${prevAddr.def.hostname} in ${prevAddr.file})`);
    const cls = classes.get(n.def.class);
    if (!cls) throw issueAt(n, ['class'], `unknown class "${n.def.class}" (classes: ${[...classes.keys()].join(', ') || 'none'})`);
    const subnet = cls.def.network.subnet ?? cluster.def.network.subnet;
    if (subnet && !inSubnet(subnet, ip)) throw issueAt(n, ['address'], `address ${ip} is outside the subnet ${subnet}`);
    if (subnet && n.def.address.split('/')[1] !== subnet.split('/')[1]) {
      throw issueAt(n, ['address'], `prefix /${n.def.address.split('/')[1]} differs from the subnet ${subnet}`);
    }
    nodes.set(n.def.hostname, n);
    byAddress.set(ip, n);
  }
  return { dir, cluster, classes, nodes };
}
