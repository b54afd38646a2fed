import { promises as fsp } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';

/** Where a k3s agent (and server) keeps the kubelet's own credential: system:node:NAME. */
export const KUBELET_KUBECONFIG = '/var/lib/rancher/k3s/agent/kubelet.kubeconfig';

/** What an HTTPS client needs from a kubeconfig: the server and one credential. Never printed. */
export interface NodeCredential {
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  token?: string;
}

interface Named<T> {
  name: string;
  [k: string]: unknown;
  cluster?: T;
  user?: T;
  context?: T;
}
type Obj = Record<string, unknown>;

/**
 * Reads the current context of a kubeconfig: inline `*-data` or files. File paths in the
 * kubeconfig name the node's own filesystem; under --root they are read below ROOT (the same
 * kubeconfig works from a sysroot), relative ones next to the kubeconfig, as kubectl does.
 * `insecure-skip-tls-verify` is ignored: the report always verifies the server.
 */
export async function readNodeCredential(file: string, root: string): Promise<NodeCredential> {
  const doc = parse(await fsp.readFile(file, 'utf8')) as Obj | null;
  if (!doc || typeof doc !== 'object') throw new Error(`${file}: not a kubeconfig`);
  const pick = <T>(list: unknown, name: unknown, key: 'cluster' | 'user' | 'context'): T => {
    const items = Array.isArray(list) ? (list as Named<T>[]) : [];
    const hit = (name === undefined ? items[0] : items.find((i) => i.name === name)) ?? items[0];
    if (!hit?.[key]) throw new Error(`${file}: no ${key}${name ? ` named ${String(name)}` : ''}`);
    return hit[key] as T;
  };
  const current = doc['current-context'];
  const ctx = Array.isArray(doc.contexts) && doc.contexts.length ? pick<Obj>(doc.contexts, current, 'context') : {};
  const cluster = pick<Obj>(doc.clusters, ctx.cluster, 'cluster');
  const user = pick<Obj>(doc.users, ctx.user, 'user');
  const material = async (dataKey: string, fileKey: string, from: Obj): Promise<Buffer | undefined> => {
    if (typeof from[dataKey] === 'string') return Buffer.from(from[dataKey] as string, 'base64');
    const p = from[fileKey];
    if (typeof p !== 'string') return undefined;
    return fsp.readFile(isAbsolute(p) ? join(root, p) : join(dirname(file), p));
  };
  const server = cluster.server;
  if (typeof server !== 'string' || !/^https:\/\//.test(server)) throw new Error(`${file}: cluster server must be an https:// URL`);
  return {
    server,
    ca: await material('certificate-authority-data', 'certificate-authority', cluster),
    cert: await material('client-certificate-data', 'client-certificate', user),
    key: await material('client-key-data', 'client-key', user),
    token: typeof user.token === 'string' ? user.token : undefined,
  };
}
