import { join } from 'node:path';
import type { z } from 'zod';
import * as f from '../../manifest/fields.js';
import { k3sFields } from '../../manifest/schema.js';
import { NOT_LIVE } from '../context.js';
import type { Action, Context, DiffEntry, Module } from '../types.js';
import { errorMessage } from '../../lib/errors.js';
import { apiMessage } from '../node-api.js';

/** NodeRestriction: a kubelet may not set these on its own Node; an admin credential must. */
const FORBIDDEN = /^(node-role\.kubernetes\.io|node-restriction\.kubernetes\.io)\//;
export const OWNED_FILE = 'k3s-owned.json';

const args = k3sFields.pick({ labels: true, taints: true }).extend({
  nodeName: f.hostname,
  kubeconfig: f.absPath.default('/var/lib/rancher/k3s/agent/kubelet.kubeconfig'),
});
type Args = z.output<typeof args>;

/** The label keys Metis set on the Node (STATE/k3s-owned.json); `taints` of older runs is ignored. */
interface Owned {
  labels: string[];
}
interface LiveNode {
  labels: Record<string, string>;
  taints: Array<{ key: string; value?: string; effect: string }>;
}

const taintStr = (t: LiveNode['taints'][number]) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`;

async function readOwned(ctx: Context): Promise<{ owned: Owned; legacy: boolean }> {
  const text = await ctx.host.readText(join(ctx.stateDir, OWNED_FILE));
  const parsed = text ? (JSON.parse(text) as Partial<Owned> & { taints?: unknown }) : {};
  return { owned: { labels: parsed.labels ?? [] }, legacy: parsed.taints !== undefined };
}

const ownedAction = (owned: Owned): Action => ({ kind: 'state', file: OWNED_FILE, content: `${JSON.stringify(owned)}\n` });

/**
 * For the k3s config task: once the config asks k3s to register the Node with LABELS, those keys
 * (the ones a node may set) are Metis's, so the record gains them with the config, before any run
 * can read the Node. Keys only ever leave the record in k3s_node, once the Node no longer has them:
 * a label dropped from the manifest while the Node cannot be read is still removed later.
 */
export async function registrationOwnership(ctx: Context, labels: Record<string, string>): Promise<Action | null> {
  const { owned } = await readOwned(ctx);
  const missing = Object.keys(labels).filter((k) => !FORBIDDEN.test(k) && !owned.labels.includes(k));
  return missing.length ? ownedAction({ labels: [...owned.labels, ...missing] }) : null;
}

/**
 * Pure: the label merge patch that moves the live Node to the wanted keys Metis owns, and no other
 * key (null removes a key Metis set before). Labels NodeRestriction keeps from a node's own
 * credential, and taints (a kubelet may not change its Node's taints after registration), are
 * returned as notes: what an admin would have to set.
 */
export function reconcile(node: LiveNode, a: Args, prev: Owned): { labels: Record<string, string | null>; owned: Owned; forbidden: string[]; taints: string[]; diff: DiffEntry[] } {
  const forbidden = Object.keys(a.labels).filter((k) => FORBIDDEN.test(k));
  const labels = Object.entries(a.labels).filter(([k]) => !FORBIDDEN.test(k));
  const diff: DiffEntry[] = [];
  const patch: Record<string, string | null> = {};
  for (const [k, v] of labels) {
    if (node.labels[k] !== v) {
      patch[k] = v;
      diff.push({ target: `node label ${k}`, before: node.labels[k] ?? null, after: v });
    }
  }
  for (const k of prev.labels) {
    if (!(k in a.labels) && k in node.labels) {
      patch[k] = null;
      diff.push({ target: `node label ${k}`, before: node.labels[k]!, after: null });
    }
  }
  const live = node.taints.map(taintStr);
  const taints = a.taints.filter((t) => !live.includes(t));
  return { labels: patch, owned: { labels: labels.map(([k]) => k) }, forbidden, taints, diff };
}

export const k3sNodeModule: Module<Args> = {
  name: 'k3s_node',
  args,
  async check(a, ctx) {
    if (!ctx.live) return { status: 'skip', reason: `live Node labels/taints: ${NOT_LIVE}` };
    // Read with the kubeconfig's own credential over the run's API connection (no `k3s kubectl`
    // process: a k3s binary's start costs seconds on a Pi); the report reuses this read.
    const api = ctx.facts.nodeApi(join(ctx.root, a.kubeconfig), ctx.root);
    const notYet = (why: string) => ({ status: 'skip' as const, reason: `Node ${a.nodeName} not readable yet (not registered?): ${why.slice(0, 200)}` });
    if (!(await api.available())) return notYet(`no ${a.kubeconfig} (k3s has not joined)`);
    const got = await api.node(a.nodeName).catch((e: unknown) => e as Error);
    if (got instanceof Error) return notYet(errorMessage(got));
    if (got.status !== 200) return notYet(apiMessage(got));
    const obj = JSON.parse(got.body) as { metadata?: { labels?: Record<string, string> }; spec?: { taints?: LiveNode['taints'] } };
    const node: LiveNode = { labels: obj.metadata?.labels ?? {}, taints: obj.spec?.taints ?? [] };
    const { owned: prev, legacy } = await readOwned(ctx);
    const r = reconcile(node, a, prev);
    const notes = [
      r.forbidden.length
        ? `not set from the node's own credential (NodeRestriction forbids node-role.kubernetes.io/* and node-restriction.kubernetes.io/*; set with an admin kubeconfig): ${r.forbidden.join(', ')}`
        : '',
      r.taints.length
        ? `taints not on the Node, and not set from the node's own credential (NodeRestriction: a kubelet may not change its Node's taints; k3s applies node-taint only when the Node registers; set with an admin kubeconfig: kubectl taint node ${a.nodeName} ${r.taints.join(' ')}): ${r.taints.join(', ')}`
        : '',
    ].filter(Boolean);
    const note = notes.join('; ') || undefined;
    const ownedChanged = JSON.stringify(r.owned.labels) !== JSON.stringify(prev.labels) || legacy;
    if (!r.diff.length && !ownedChanged) return { status: 'ok', ...(note ? { reason: note } : {}) };
    const reason = [r.diff.map((d) => d.target).join(', ') || 'record owned keys', note].filter(Boolean).join('; ');
    const actions: Action[] = [
      ...(r.diff.length ? [{ kind: 'node-labels' as const, kubeconfig: a.kubeconfig, node: a.nodeName, labels: r.labels }] : []),
      ownedAction(r.owned),
    ];
    return { status: 'change', reason, diff: r.diff, actions };
  },
};
