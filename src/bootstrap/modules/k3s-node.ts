import { join } from 'node:path';
import type { z } from 'zod';
import * as f from '../../manifest/fields.js';
import { k3sFields } from '../../manifest/schema.js';
import { NOT_LIVE } from '../context.js';
import type { Action, DiffEntry, Module } from '../types.js';
import { errorMessage } from '../../lib/errors.js';
import { apiMessage } from '../node-api.js';

/** NodeRestriction: a kubelet may not set these on its own Node; an admin credential must. */
const FORBIDDEN = /^(node-role\.kubernetes\.io|node-restriction\.kubernetes\.io)\//;
export const OWNED_FILE = 'k3s-owned.json';

const args = k3sFields.pick({ labels: true, taints: true, binary: true }).extend({
  nodeName: f.hostname,
  kubeconfig: f.absPath.default('/var/lib/rancher/k3s/agent/kubelet.kubeconfig'),
});
type Args = z.output<typeof args>;

interface Owned {
  labels: string[];
  taints: string[];
}
interface LiveNode {
  labels: Record<string, string>;
  taints: Array<{ key: string; value?: string; effect: string }>;
}

const taintId = (t: string) => t.replace(/=[^:]*/, ''); // key:Effect identifies a taint
const taintStr = (t: LiveNode['taints'][number]) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`;

/** Pure: kubectl label/taint argv to move the live node to the wanted keys Metis owns, and no other key. */
export function reconcile(node: LiveNode, a: Args, prev: Owned): { kubectl: string[][]; owned: Owned; forbidden: string[]; diff: DiffEntry[] } {
  const forbidden = Object.keys(a.labels).filter((k) => FORBIDDEN.test(k));
  const labels = Object.entries(a.labels).filter(([k]) => !FORBIDDEN.test(k));
  const diff: DiffEntry[] = [];
  const labelArgs: string[] = [];
  for (const [k, v] of labels) {
    if (node.labels[k] !== v) {
      labelArgs.push(`${k}=${v}`);
      diff.push({ target: `node label ${k}`, before: node.labels[k] ?? null, after: v });
    }
  }
  for (const k of prev.labels) {
    if (!(k in a.labels) && k in node.labels) {
      labelArgs.push(`${k}-`);
      diff.push({ target: `node label ${k}`, before: node.labels[k]!, after: null });
    }
  }
  const live = node.taints.map(taintStr);
  const wantedIds = new Set(a.taints.map(taintId));
  const taintArgs: string[] = [];
  for (const t of a.taints) {
    if (!live.includes(t)) {
      taintArgs.push(t);
      diff.push({ target: `node taint ${taintId(t)}`, before: live.find((l) => taintId(l) === taintId(t)) ?? null, after: t });
    }
  }
  for (const id of prev.taints) {
    if (!wantedIds.has(id) && live.some((l) => taintId(l) === id)) {
      taintArgs.push(`${id}-`);
      diff.push({ target: `node taint ${id}`, before: id, after: null });
    }
  }
  const kubectl: string[][] = [];
  if (labelArgs.length) kubectl.push(['label', 'node', a.nodeName, '--overwrite', ...labelArgs]);
  if (taintArgs.length) kubectl.push(['taint', 'node', a.nodeName, '--overwrite', ...taintArgs]);
  return { kubectl, owned: { labels: labels.map(([k]) => k), taints: [...wantedIds] }, forbidden, diff };
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
    const prevText = await ctx.host.readText(join(ctx.stateDir, OWNED_FILE));
    const prev = prevText ? (JSON.parse(prevText) as Owned) : { labels: [], taints: [] };
    const r = reconcile(node, a, prev);
    const note = r.forbidden.length
      ? `not set from the node's own credential (NodeRestriction forbids node-role.kubernetes.io/* and node-restriction.kubernetes.io/*; set with an admin kubeconfig): ${r.forbidden.join(', ')}`
      : undefined;
    const ownedChanged = JSON.stringify(r.owned) !== JSON.stringify(prev);
    if (!r.kubectl.length && !ownedChanged) return { status: 'ok', ...(note ? { reason: note } : {}) };
    const reason = [r.diff.map((d) => d.target).join(', ') || 'record owned keys', note].filter(Boolean).join('; ');
    const actions: Action[] = [
      ...r.kubectl.map((argv): Action => ({ kind: 'run', argv: [a.binary, 'kubectl', '--kubeconfig', a.kubeconfig, ...argv], timeoutMs: 20_000 })),
      { kind: 'state', file: OWNED_FILE, content: `${JSON.stringify(r.owned)}\n` },
    ];
    return { status: 'change', reason, diff: r.diff, actions };
  },
  async apply(a, ctx, plan) {
    try {
      await ctx.execute(plan.actions);
    } finally {
      // The Node read before the plan is stale now (the report reads it again).
      ctx.facts.nodeApi(join(ctx.root, a.kubeconfig), ctx.root).forget(a.nodeName);
    }
  },
};
