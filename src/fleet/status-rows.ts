import { ANNOTATION, CONDITION } from '../bootstrap/node-report.js';
import { FLEET_EXIT } from './exit.js';

/** The timer's period (systemd/metis-bootstrap.timer: OnUnitActiveSec=15min). */
export const TIMER_PERIOD_MS = 15 * 60_000;
/** A heartbeat older than three periods reads Unknown: two missed timer runs plus the random delay. */
export const STALE_AFTER_MS = 3 * TIMER_PERIOD_MS;

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastHeartbeatTime?: string;
}
export interface KubeNode {
  metadata: { name: string; annotations?: Record<string, string> };
  status?: { conditions?: Condition[]; nodeInfo?: { kubeletVersion?: string } };
}

export type Verdict = 'converged' | 'drifted' | 'failed' | 'unknown';

export interface StatusRow {
  node: string;
  ready: 'True' | 'False' | 'Unknown' | null;
  converged: 'True' | 'False' | 'Unknown';
  /** Converged | Drifted | Failed from the node; Stale, NotReported, NotInCluster from here. */
  reason: string;
  message: string | null;
  lastRun: string | null;
  ageSeconds: number | null;
  drift: number | null;
  kubelet: string | null;
  pinned: string | null;
  manifestHash: string | null;
  inventoryHash: string;
  manifest: 'current' | 'changed' | 'unknown';
  /** What the operator should look at, one line per problem. */
  notes: string[];
  verdict: Verdict;
}

export function formatAge(s: number | null): string {
  if (s === null) return '-';
  if (s < 120) return `${Math.max(0, Math.round(s))}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

/** Pure: one row from the Node object (or its absence) and what the inventory wants now. */
export function statusRow(name: string, node: KubeNode | undefined, want: { hash: string; k3sVersion?: string }, now: Date): StatusRow {
  const base = { node: name, inventoryHash: want.hash, pinned: want.k3sVersion ?? null };
  if (!node) {
    return { ...base, ready: null, converged: 'Unknown', reason: 'NotInCluster', message: null, lastRun: null, ageSeconds: null, drift: null, kubelet: null, manifestHash: null, manifest: 'unknown', notes: ['no Node of this name in the cluster'], verdict: 'unknown' };
  }
  const conds = node.status?.conditions ?? [];
  const ready = conds.find((c) => c.type === 'Ready');
  const mc = conds.find((c) => c.type === CONDITION);
  const ann = node.metadata.annotations ?? {};
  const beat = mc?.lastHeartbeatTime ? Date.parse(mc.lastHeartbeatTime) : NaN;
  const ageSeconds = Number.isFinite(beat) ? (now.getTime() - beat) / 1000 : null;
  const drift = ann[ANNOTATION.drift] !== undefined && /^\d+$/.test(ann[ANNOTATION.drift]!) ? Number(ann[ANNOTATION.drift]) : null;
  const nodeHash = ann[ANNOTATION.hash] ?? null;
  const kubelet = node.status?.nodeInfo?.kubeletVersion ?? null;
  const notes: string[] = [];
  let converged: StatusRow['converged'];
  let reason: string;
  if (!mc) {
    converged = 'Unknown';
    reason = 'NotReported';
    notes.push('no MetisConverged condition: the node has not reported (k3s not yet up, or an older Metis)');
  } else if (ageSeconds === null || ageSeconds * 1000 > STALE_AFTER_MS) {
    converged = 'Unknown';
    reason = 'Stale';
    notes.push(`last report ${formatAge(ageSeconds)} ago, older than 3 timer periods (${STALE_AFTER_MS / 60_000}m): is the timer running?`);
  } else {
    converged = mc.status === 'True' ? 'True' : mc.status === 'False' ? 'False' : 'Unknown';
    reason = mc.reason ?? (converged === 'True' ? 'Converged' : 'Unknown');
  }
  const manifest: StatusRow['manifest'] = nodeHash === null ? 'unknown' : nodeHash === want.hash ? 'current' : 'changed';
  if (manifest === 'changed') notes.push(`inventory changed since this card: run \`metis push ${name}\``);
  if (want.k3sVersion && kubelet && kubelet !== want.k3sVersion) notes.push(`kubelet ${kubelet}, inventory pins ${want.k3sVersion}`);
  if (ready && ready.status !== 'True') notes.push(`Ready=${ready.status}${ready.reason ? ` (${ready.reason})` : ''}`);
  if (converged === 'False' && mc?.message) notes.push(mc.message);

  let verdict: Verdict = 'converged';
  if (converged === 'Unknown' || !ready) verdict = 'unknown';
  else if (reason === 'Failed' || ready.status !== 'True') verdict = 'failed';
  else if (converged !== 'True' || manifest === 'changed' || notes.some((n) => n.startsWith('kubelet '))) verdict = 'drifted';
  return {
    ...base,
    ready: ready ? (ready.status === 'True' ? 'True' : ready.status === 'False' ? 'False' : 'Unknown') : null,
    converged,
    reason,
    message: mc?.message ?? null,
    lastRun: ann[ANNOTATION.lastRun] ?? mc?.lastHeartbeatTime ?? null,
    ageSeconds: ageSeconds === null ? null : Math.round(ageSeconds),
    drift,
    kubelet,
    manifestHash: nodeHash,
    manifest,
    notes,
    verdict,
  };
}

/** OR of the rows' bits: drift 2, failed 4, unknown 8 (src/fleet/exit.ts). */
export function statusExit(rows: StatusRow[]): number {
  let code = 0;
  for (const r of rows) {
    if (r.verdict === 'drifted') code |= FLEET_EXIT.DRIFT;
    if (r.verdict === 'failed') code |= FLEET_EXIT.FAILED;
    if (r.verdict === 'unknown') code |= FLEET_EXIT.UNKNOWN;
  }
  return code;
}
