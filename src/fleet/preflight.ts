import { createHash } from 'node:crypto';
import { MetisError } from '../lib/errors.js';
import { kubeGet, kubectl, type KubectlOptions, serverVersion } from '../lib/kubectl.js';
import type { Manifest } from '../manifest/schema.js';

/** A refusal of the cluster preflight: nothing was burned, nothing in the cluster changed. */
export class PreflightError extends MetisError {
  constructor(check: string, message: string) {
    super('E_PREFLIGHT', `${check}: ${message}`, { path: check });
  }
}

export interface KubeNode {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { taints?: { key: string; value?: string; effect: string }[] };
  status?: { conditions?: { type: string; status: string; reason?: string; lastHeartbeatTime?: string }[]; nodeInfo?: { kubeletVersion?: string } };
}

export const ETCD_ROLE_LABEL = 'node-role.kubernetes.io/etcd';
export const ETCD_NAME_ANNOTATION = 'etcd.k3s.cattle.io/node-name';
export const ETCD_REMOVED_ANNOTATION = 'etcd.k3s.cattle.io/removed-node-name';

export function isReady(n: KubeNode): boolean {
  return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** k3s's etcd members as the API shows them: server Nodes with the etcd role and a member name, not marked removed. */
export function etcdMember(n: KubeNode): boolean {
  const l = n.metadata.labels ?? {};
  const a = n.metadata.annotations ?? {};
  return l[ETCD_ROLE_LABEL] === 'true' && Boolean(a[ETCD_NAME_ANNOTATION]) && !a[ETCD_REMOVED_ANNOTATION];
}

function minorOf(v: string): [number, number] | null {
  const m = /^v?(\d+)\.(\d+)\./.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

/** The kubelet may be up to three minors older than the API server, never newer (Kubernetes' skew policy). */
export function checkSkew(pinned: string, server: string): string | null {
  const p = minorOf(pinned);
  const s = minorOf(server);
  if (!p || !s) return `cannot compare versions ${pinned} and ${server}`;
  if (p[0] !== s[0]) return `major version ${p[0]} differs from the server's ${s[0]}`;
  if (p[1] > s[1]) return `the pinned k3s ${pinned} is newer than the API server ${server}; a kubelet may not be newer than its server: upgrade the servers first, or pin ${server}`;
  if (s[1] - p[1] > 3) return `the pinned k3s ${pinned} is ${s[1] - p[1]} minors older than the API server ${server}; a kubelet may be at most 3 minors older: pin a newer version`;
  return null;
}

export interface PreflightResult {
  serverVersion: string;
  /** The Node as the cluster has it now; null when absent. */
  node: KubeNode | null;
  /** Lines for the operator: what was checked and found. */
  notes: string[];
}

export interface PreflightInput {
  manifest: Manifest;
  escrowed: boolean;
  /** Burn although the Node object does not exist (first join, or deleted before). */
  allowAbsent: boolean;
  /** Burn although the Node reports Ready (its old card may still be running). */
  force: boolean;
  kube: KubectlOptions;
  nodeFile: string;
  clusterFile: string;
}

/**
 * Read-only checks before anything is burned or deleted: API reachable and authorized, version
 * skew, token against the cluster CA, the Node's state, and for a server etcd quorum and membership.
 */
export async function clusterPreflight(inp: PreflightInput): Promise<PreflightResult> {
  const { manifest: m, kube } = inp;
  const name = m.node.hostname;
  const notes: string[] = [];
  if (!m.k3s) throw new PreflightError('k3s', `${name}'s class has no k3s section: it is not a cluster node; use metis burn`);
  const version = (await serverVersion(kube)).gitVersion;
  notes.push(`API server ${version} reachable`);
  const skew = checkSkew(m.k3s.version, version);
  if (skew) throw new PreflightError('version skew', `${inp.nodeFile}: k3s.version: ${skew}`);
  notes.push(`pinned k3s ${m.k3s.version} within the skew policy of ${version}`);

  // The token's K10 prefix is the sha256 of the cluster CA: a wrong token is caught here, not on the node.
  const k10 = /^K10([0-9a-f]{64})::/.exec(m.k3s.token)?.[1];
  if (k10) {
    const ca = await kubectl(['get', '--raw', '/cacerts'], kube).catch(() => null);
    if (ca !== null) {
      // kubectl's output lost the body's final newline (execa strips it); /cacerts ends with one.
      const hashes = [ca, `${ca}\n`].map((b) => createHash('sha256').update(b).digest('hex'));
      if (!hashes.includes(k10)) throw new PreflightError('token', `${inp.clusterFile}: token: its CA hash does not match this cluster's /cacerts (the node would fail with "token CA hash does not match"): fetch the current token from a server`);
      notes.push('token CA hash matches the cluster');
    }
  }

  if (m.k3s.clusterInit) {
    throw new PreflightError('clusterInit', `${inp.nodeFile}: k3s.clusterInit: true would start a NEW cluster beside the existing one (split brain); set clusterInit: false so ${name} joins the existing cluster at serverUrl`);
  }

  const node = await kubeGet<KubeNode>(`/api/v1/nodes/${encodeURIComponent(name)}`, kube);
  if (!node) {
    if (!inp.allowAbsent) throw new PreflightError('node', `${name} is not a Node of this cluster (kubectl get node ${name}: not found); check the name and --context, or pass --new-node for a node that joins for the first time or was deleted`);
    notes.push(`Node ${name} absent: it joins as a new node`);
  } else if (isReady(node)) {
    const hb = node.status?.conditions?.find((c) => c.type === 'Ready')?.lastHeartbeatTime;
    if (!inp.force) throw new PreflightError('node', `Node ${name} is Ready${hb ? ` (last heartbeat ${hb})` : ''}: its current card is running; power it off before replacing it, or pass --force`);
    notes.push(`Node ${name} is Ready; replacing anyway (--force)`);
  } else {
    notes.push(`Node ${name} is NotReady (${node.status?.conditions?.find((c) => c.type === 'Ready')?.reason ?? 'no reason'})`);
  }

  if (m.k3s.role === 'server') {
    const list = await kubeGet<{ items: KubeNode[] }>('/api/v1/nodes', kube);
    const members = (list?.items ?? []).filter(etcdMember);
    const others = members.filter((n) => n.metadata.name !== name);
    const healthy = others.filter(isReady).length;
    const isMember = members.some((n) => n.metadata.name === name);
    const quorum = Math.floor(members.length / 2) + 1;
    if (members.length === 0) throw new PreflightError('etcd', `no etcd members visible (no Node with ${ETCD_ROLE_LABEL}=true and ${ETCD_NAME_ANNOTATION}); a server cannot rejoin a cluster without embedded etcd this way`);
    if (healthy < quorum) {
      throw new PreflightError('etcd quorum', `without ${name}, ${healthy} of ${members.length} etcd members are Ready; quorum needs ${quorum}: restore another server first`);
    }
    notes.push(`etcd keeps quorum without ${name}: ${healthy} of ${members.length} members Ready, quorum ${quorum}`);
    if (isMember) {
      throw new PreflightError('etcd member', `${name} is still an etcd member (${node?.metadata.annotations?.[ETCD_NAME_ANNOTATION]}); remove it first so the new card joins as a fresh member: kubectl annotate node ${name} ${'etcd.k3s.cattle.io/remove=true'} (k3s removes the member), wait until it is gone, then run metis replace again`);
    }
    notes.push(`${name} is not an etcd member: the new card joins etcd fresh`);
  }
  return { serverVersion: version, node, notes };
}
