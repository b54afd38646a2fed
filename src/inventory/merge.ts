import { MetisError } from '../lib/errors.js';
import { CURRENT_SCHEMA_VERSION, type Manifest } from '../manifest/schema.js';
import { validateManifest } from '../manifest/load.js';
import type { Inventory } from './load.js';
import type { SecretResolver } from './secrets.js';
import { tokenProblem } from './token-check.js';
import { mergeHooks } from './merge-hooks.js';
import { applyEscrow } from '../identity/apply.js';

/**
 * One node's manifest: class defaults, then cluster, then the node's own values, validated by
 * the one manifest schema the bootstrap reads. Secrets are resolved from their sources here only.
 */
export async function nodeManifest(inv: Inventory, hostname: string, resolve: SecretResolver): Promise<Manifest> {
  const node = inv.nodes.get(hostname);
  if (!node) {
    throw new MetisError('E_UNKNOWN_NODE', `no node ${hostname} in ${inv.dir}/nodes (nodes: ${[...inv.nodes.keys()].join(', ') || 'none'})`);
  }
  const n = node.def;
  const cls = inv.classes.get(n.class)!;
  const c = cls.def;
  const cl = inv.cluster.def;
  const ip = n.address.split('/')[0]!;
  const gateway = n.gateway ?? c.network.gateway ?? cl.network.gateway;
  const sshKeys = [...cl.ssh.authorizedKeys, ...(n.ssh?.authorizedKeys ?? [])];

  let k3s: Record<string, unknown> | undefined;
  if (c.k3s) {
    const role = n.k3s?.role ?? c.k3s.role;
    const clusterInit = n.k3s?.clusterInit ?? false;
    const token = await resolve(cl.token, { file: inv.cluster.file, path: 'token' });
    // Blamed where it comes from (cluster.yaml and its source), never on the node file; the value is never shown.
    const problem = tokenProblem(token, !clusterInit);
    if (problem) throw new MetisError('E_SECRET', `${inv.cluster.file}: token: the value from ${cl.token} is not a usable k3s token: ${problem}`, { file: inv.cluster.file, path: 'token' });
    k3s = {
      role,
      version: n.k3s?.version ?? c.k3s.version,
      ...(clusterInit ? { clusterInit: true } : { serverUrl: cl.serverUrl }),
      token,
      ...(n.k3s?.nodePassword ? { nodePassword: await resolve(n.k3s.nodePassword, { file: node.file, path: 'k3s.nodePassword' }) } : {}),
      nodeIp: ip,
      labels: { ...c.k3s.labels, ...n.labels },
      taints: [...c.k3s.taints, ...n.taints],
      kubeletArgs: n.k3s?.kubeletArgs ?? c.k3s.kubeletArgs,
    };
  }
  const input = {
    schemaVersion: CURRENT_SCHEMA_VERSION,
    node: { hostname: n.hostname, class: n.class, arch: c.arch },
    network: {
      interface: n.interface ?? c.network.interface,
      ...(n.mac ? { mac: n.mac } : {}),
      renderer: c.network.renderer,
      ipv4: { address: n.address, ...(gateway ? { gateway } : {}) },
      dns: n.dns ?? c.network.dns ?? cl.network.dns ?? [],
      searchDomains: n.searchDomains ?? c.network.searchDomains ?? cl.network.searchDomains ?? [],
    },
    ssh: { port: n.ssh?.port ?? cl.ssh.port, authorizedKeys: sshKeys },
    mounts: n.mounts,
    ...(c.iscsi ? { iscsi: c.iscsi } : {}),
    ...(k3s ? { k3s } : {}),
    ...(c.journald ? { journald: c.journald } : {}),
    ...(n.identity ? { identity: n.identity } : {}),
    users: mergeUsers(cl.users, c.users, n.users),
    ...mergeHooks(c, n),
  };
  await applyEscrow(input, inv, node, resolve);
  // Errors here name the node file: that's where the operator fixes a merged value.
  return validateManifest(input, node.file);
}

/** Cluster, then class, then node: an entry replaces an earlier one of the same name (in its place). */
function mergeUsers<U extends { name: string }>(...layers: U[][]): U[] {
  const byName = new Map<string, U>();
  for (const layer of layers) for (const u of layer) byName.set(u.name, u);
  return [...byName.values()];
}
