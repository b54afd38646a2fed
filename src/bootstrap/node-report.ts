import { promises as fsp } from 'node:fs';
import type { Agent } from 'node:https';
import { join } from 'node:path';
import { errorMessage } from '../lib/errors.js';
import { httpsModule } from './https.js';
import { manifestHash } from '../manifest/hash.js';
import type { Manifest } from '../manifest/schema.js';
import { SUPPORTED_SCHEMA_VERSIONS } from '../manifest/schema.js';
import { KUBELET_KUBECONFIG, readNodeCredential, type NodeCredential } from './node-kubeconfig.js';
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

interface Reply {
  status: number;
  body: string;
}

type Https = typeof import('node:https');

/** One API call; `https` loaded on first use (./https.ts). */
function call(https: Https, cred: NodeCredential, agent: Agent, method: string, path: string, signal: AbortSignal, body?: unknown, type?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, cred.server);
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': `metis-bootstrap/${VERSION}` };
    if (cred.token) headers.authorization = `Bearer ${cred.token}`;
    const data = body === undefined ? undefined : JSON.stringify(body);
    if (data !== undefined) headers['content-type'] = type ?? 'application/merge-patch+json';
    const req = https.request(url, { method, headers, agent, signal }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (text.length < 1 << 20) text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

function apiMessage(r: Reply): string {
  try {
    const m = (JSON.parse(r.body) as { message?: string }).message;
    if (m) return `HTTP ${r.status}: ${m.slice(0, 300)}`;
  } catch {
    // not JSON
  }
  return `HTTP ${r.status}`;
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
  if (!(await fsp.stat(file).then((s) => s.isFile(), () => false))) {
    return { status: 'skipped', node: name, reason: `k3s has not run here yet (no ${KUBELET_KUBECONFIG})` };
  }
  const signal = AbortSignal.timeout(o.timeoutMs ?? 10_000);
  let agent: Agent | undefined;
  try {
    const cred = await readNodeCredential(file, o.root);
    const https = httpsModule();
    agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: cred.ca, cert: cred.cert, key: cred.key });
    const path = `/api/v1/nodes/${encodeURIComponent(name)}`;
    const got = await call(https, cred, agent, 'GET', path, signal);
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
    const st = await call(https, cred, agent, 'PATCH', `${path}/status`, signal, { status: { conditions: [condition] } }, 'application/strategic-merge-patch+json');
    if (st.status !== 200) return { status: 'failed', node: name, reason: `patch Node ${name} status: ${apiMessage(st)}` };
    const s = report.summary;
    const annotations = {
      [ANNOTATION.hash]: manifestHash(o.manifest),
      [ANNOTATION.version]: VERSION,
      [ANNOTATION.schemas]: SUPPORTED_SCHEMA_VERSIONS.join(','),
      [ANNOTATION.lastRun]: report.startedAt,
      [ANNOTATION.mode]: report.mode,
      [ANNOTATION.summary]: `ok=${s.ok} changed=${s.changed} failed=${s.failed} skipped=${s.skipped}`,
      [ANNOTATION.drift]: String(driftCount(report)),
    };
    const md = await call(https, cred, agent, 'PATCH', path, signal, { metadata: { annotations } });
    if (md.status !== 200) return { status: 'failed', node: name, reason: `annotate Node ${name}: ${apiMessage(md)}` };
    return { status: 'reported', node: name, condition: cond.reason };
  } catch (e) {
    const why = signal.aborted ? `no answer within ${o.timeoutMs ?? 10_000} ms` : errorMessage(e);
    return { status: 'failed', node: name, reason: `report to Node ${name}: ${why}` };
  } finally {
    agent?.destroy();
  }
}
