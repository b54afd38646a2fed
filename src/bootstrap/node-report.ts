import { join } from 'node:path';
import { errorMessage } from '../lib/errors.js';
import { apiMessage, NodeApi, nodePath } from './node-api.js';
import { manifestHash } from '../manifest/hash.js';
import type { Manifest } from '../manifest/schema.js';
import { SUPPORTED_SCHEMA_VERSIONS } from '../manifest/schema.js';
import { KUBELET_KUBECONFIG } from './node-kubeconfig.js';
import type { Report } from './report.js';
import { VERSION } from '../core/version.js';

/** The Node condition and annotations one bootstrap run leaves on its own Node (docs/fleet.md). */
export const CONDITION = 'MetisConverged';
export const ANNOTATION = {
  hash: 'metis.io/manifest-hash',
  version: 'metis.io/version',
  schemas: 'metis.io/schema-versions',
  lastRun: 'metis.io/last-run',
  mode: 'metis.io/last-run-mode',
  summary: 'metis.io/summary',
  drift: 'metis.io/drift',
} as const;

export type ConvergedReason = 'Converged' | 'Drifted' | 'Failed';

/** What became of the report to the Node: in last-run.json; never fails the converge. */
export interface NodeReportOutcome {
  status: 'reported' | 'skipped' | 'failed';
  reason?: string;
  node?: string;
  condition?: ConvergedReason;
}

export interface NodeReportOptions {
  root: string;
  manifest?: Manifest;
  /** Default ROOT + KUBELET_KUBECONFIG. */
  kubeconfig?: string;
  /** The whole report (three requests) must finish in this time. Default 10 s. */
  timeoutMs?: number;
  /** The run's connection to the API (opened before its plan; its read of the Node is reused). */
  api?: NodeApi;
  now?: Date;
}

/**
 * Tasks not in their wanted state after the run: in a check run, what would change or failed;
 * after an apply, what failed (what changed is now converged).
 */
export function driftCount(r: Report): number {
  return r.mode === 'check' ? r.summary.changed + r.summary.failed : r.summary.failed;
}

export function conditionOf(r: Report): { status: 'True' | 'False'; reason: ConvergedReason; message: string } {
  const s = r.summary;
  const counts = `ok=${s.ok} changed=${s.changed} failed=${s.failed} skipped=${s.skipped}`;
  const secs = (r.durationMs / 1000).toFixed(1);
  if (r.error !== undefined) return { status: 'False', reason: 'Failed', message: `${r.mode} could not run: ${r.error}`.slice(0, 1000) };
  if (s.failed > 0) {
    // Each failed task with its reason: `metis status` then names the cause (a missing disk's UUID
    // and mount point) without a login on the node.
    const failed = r.tasks.filter((t) => t.status === 'failed').map((t) => (t.reason ? `${t.name} (${t.reason})` : t.name));
    return { status: 'False', reason: 'Failed', message: `${r.mode} ${counts} in ${secs}s; failed: ${failed.join('; ')}`.slice(0, 1000) };
  }
  if (r.mode === 'check' && s.changed > 0) {
    const names = r.tasks.filter((t) => t.status === 'changed').map((t) => t.name);
    return { status: 'False', reason: 'Drifted', message: `check ${counts} in ${secs}s; drifted: ${names.join(', ')}`.slice(0, 1000) };
  }
  return { status: 'True', reason: 'Converged', message: `${r.mode} ${counts} in ${secs}s` };
}

/**
 * After a run, once k3s has run on this node: writes the run's outcome onto its own Node with the
 * node's own credential (the kubelet's client certificate; NodeRestriction lets it patch only its
 * own Node): the MetisConverged condition (strategic merge on nodes/NAME/status; the transition
 * time moves only when the status flips) and the metis.io/* annotations. Sends no secret: counts,
 * task names, the redacted error, the secret-free manifest hash. Never throws.
 */
export async function reportOnNode(report: Report, o: NodeReportOptions): Promise<NodeReportOutcome> {
  if (!o.manifest) return { status: 'skipped', reason: 'no valid manifest: the node name is unknown' };
  if (!o.manifest.k3s) return { status: 'skipped', reason: 'the manifest has no k3s section' };
  const name = o.manifest.node.hostname;
  const file = o.kubeconfig ?? join(o.root, KUBELET_KUBECONFIG);
  const timeoutMs = o.timeoutMs ?? 10_000;
  // The run's connection (opened before its plan) when it is for this kubeconfig; else one of our own.
  const own = o.api?.file !== file;
  const api = own ? new NodeApi(file, o.root, timeoutMs) : o.api!;
  if (!(await api.available())) return { status: 'skipped', node: name, reason: `k3s has not run here yet (no ${KUBELET_KUBECONFIG})` };
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<NodeReportOutcome>((resolve) => {
    timer = setTimeout(() => {
      api.close();
      resolve({ status: 'failed', node: name, reason: `report to Node ${name}: no answer within ${timeoutMs} ms` });
    }, timeoutMs);
  });
  try {
    return await Promise.race([bound, send(api, report, name, o)]);
  } finally {
    clearTimeout(timer);
    if (own) api.close();
  }
}

async function send(api: NodeApi, report: Report, name: string, o: NodeReportOptions): Promise<NodeReportOutcome> {
  try {
    const path = nodePath(name);
    const got = await api.node(name);
    if (got.status !== 200) return { status: 'failed', node: name, reason: `read Node ${name}: ${apiMessage(got)}` };
    const prev = ((JSON.parse(got.body) as { status?: { conditions?: Array<{ type: string; status: string; lastTransitionTime?: string }> } }).status?.conditions ?? []).find((c) => c.type === CONDITION);
    const now = (o.now ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const cond = conditionOf(report);
    const condition = {
      type: CONDITION,
      ...cond,
      lastHeartbeatTime: now,
      lastTransitionTime: prev && prev.status === cond.status && prev.lastTransitionTime ? prev.lastTransitionTime : now,
    };
    const st = await api.request('PATCH', `${path}/status`, { status: { conditions: [condition] } }, 'application/strategic-merge-patch+json');
    if (st.status !== 200) return { status: 'failed', node: name, reason: `patch Node ${name} status: ${apiMessage(st)}` };
    const s = report.summary;
    const annotations = {
      [ANNOTATION.hash]: manifestHash(o.manifest!),
      [ANNOTATION.version]: VERSION,
      [ANNOTATION.schemas]: SUPPORTED_SCHEMA_VERSIONS.join(','),
      [ANNOTATION.lastRun]: report.startedAt,
      [ANNOTATION.mode]: report.mode,
      [ANNOTATION.summary]: `ok=${s.ok} changed=${s.changed} failed=${s.failed} skipped=${s.skipped}`,
      [ANNOTATION.drift]: String(driftCount(report)),
    };
    const md = await api.request('PATCH', path, { metadata: { annotations } });
    if (md.status !== 200) return { status: 'failed', node: name, reason: `annotate Node ${name}: ${apiMessage(md)}` };
    return { status: 'reported', node: name, condition: cond.reason };
  } catch (e) {
    return { status: 'failed', node: name, reason: `report to Node ${name}: ${errorMessage(e)}` };
  }
}
