import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'node:net';
import { MetisError } from '../lib/errors.js';
import { kubeGet, type KubectlOptions } from '../lib/kubectl.js';
import { type SshTarget, sshRun } from '../lib/ssh.js';
import type { Manifest } from '../manifest/schema.js';
import type { Escrow } from '../identity/escrow.js';
import { isReady, type KubeNode } from './preflight.js';

export type CheckId = 'address' | 'ssh' | 'converged' | 'node-ready' | 'labels' | 'kubelet' | 'longhorn';

export interface CheckResult {
  id: CheckId;
  title: string;
  ok: boolean;
  detail: string;
}

export interface WaitContext {
  manifest: Manifest;
  target: SshTarget;
  /** ssh env that trusts only the escrowed host keys (without escrow: the first key seen, pinned for the wait). */
  sshEnv: NodeJS.ProcessEnv;
  escrow: Escrow | null;
  /** sha256 of the burned metis/node.yaml; null = any converged run counts. */
  manifestSha256: string | null;
  kube: KubectlOptions;
  stateDir?: string;
}

const LONGHORN_LABEL = 'node.longhorn.io/create-default-disk';

export function hasLonghorn(m: Manifest): boolean {
  return Boolean(m.k3s && LONGHORN_LABEL in m.k3s.labels);
}

function tcpAnswers(host: string, port: number, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (why: string | null) => {
      s.destroy();
      resolve(why);
    };
    s.setTimeout(timeoutMs, () => done('no answer'));
    s.once('connect', () => done(null));
    s.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
  });
}

function parseTaint(t: string): { key: string; value?: string; effect: string } {
  const [kv, effect = ''] = t.split(':');
  const [key, value] = kv!.split('=');
  return { key: key!, ...(value !== undefined && value !== '' ? { value } : {}), effect };
}

const STATE = '/var/lib/metis';

/**
 * The checklist, in the order a returning node passes it. Each check only reads. A check is run
 * only when the ones before it pass: no point asking the kubelet before the node answers.
 */
export async function runChecks(c: WaitContext): Promise<CheckResult[]> {
  const m = c.manifest;
  const host = c.target.host;
  const port = c.target.port ?? 22;
  const out: CheckResult[] = [];
  const add = (id: CheckId, title: string, ok: boolean, detail: string) => {
    out.push({ id, title, ok, detail });
    return ok;
  };
  const why = await tcpAnswers(host, port, 3000);
  if (!add('address', `${host} answers on tcp/${port}`, why === null, why ?? 'connected')) return out;

  const ssh = await sshRun(c.target, ['true'], { env: c.sshEnv, timeoutMs: 20_000, connectTimeoutSec: 8 }).then(
    (r) => (r.exitCode === 0 ? null : `remote exit ${r.exitCode}`),
    (e: Error & { code?: string }) => (e.code !== 'E_SSH_HOST_KEY' ? e.message : c.escrow ? `host key is NOT the escrowed one: ${e.message}` : `host key changed since this wait first saw it: ${e.message}`),
  );
  const sshTitle = c.escrow ? `SSH on port ${port}, host key = escrowed key (strict)` : `SSH on port ${port} (no escrow: host key trusted on first use)`;
  if (!add('ssh', sshTitle, ssh === null, ssh ?? 'host key verified')) return out;

  const dir = c.stateDir ?? STATE;
  const script = `cat ${dir}/last-run.json 2>/dev/null || echo '{}'; echo '##'; ${c.manifestSha256 ? `grep -lE '"manifestHash": ?"${c.manifestSha256}"' ${dir}/last-run.json ${dir}/runs/*.json 2>/dev/null | head -1` : 'true'}`;
  const r = await sshRun(c.target, ['sh', '-c', script], { env: c.sshEnv, timeoutMs: 20_000 }).catch((e: Error) => ({ stdout: '', stderr: e.message, exitCode: 255 }));
  const [reportText = '{}', applied = ''] = r.stdout.split('##\n');
  let report: { summary?: { failed: number }; error?: string; mode?: string; manifestHash?: string } = {};
  try {
    report = JSON.parse(reportText);
  } catch {
    /* an unreadable report is "not converged" */
  }
  const conv = !report.summary ? 'no run reported yet' : report.error ? `last run could not start: ${report.error}` : report.summary.failed > 0 ? `last run failed ${report.summary.failed} task(s)` : c.manifestSha256 && !applied.trim() ? `no run of this burn's manifest (sha256 ${c.manifestSha256.slice(0, 12)}…) yet` : null;
  if (!add('converged', `bootstrap converged${c.manifestSha256 ? ` for this burn's manifest ${c.manifestSha256.slice(0, 12)}…` : ''}`, conv === null, conv ?? 'last-run.json: failed=0')) return out;

  if (!m.k3s) return out;
  const node = await kubeGet<KubeNode>(`/api/v1/nodes/${encodeURIComponent(m.node.hostname)}`, c.kube).catch((e: Error) => e);
  if (node instanceof Error || node === null) {
    add('node-ready', `Node ${m.node.hostname} Ready`, false, node === null ? 'no Node object yet' : node.message);
    return out;
  }
  const readyCond = node.status?.conditions?.find((x) => x.type === 'Ready');
  if (!add('node-ready', `Node ${m.node.hostname} Ready`, isReady(node), readyCond ? `${readyCond.status} (${readyCond.reason ?? ''})` : 'no Ready condition')) return out;

  const labels = node.metadata.labels ?? {};
  const wrong = Object.entries(m.k3s.labels).filter(([k, v]) => labels[k] !== v).map(([k, v]) => `${k}=${v} (has ${labels[k] ?? 'none'})`);
  const taints = node.spec?.taints ?? [];
  const missing = m.k3s.taints.map(parseTaint).filter((t) => !taints.some((x) => x.key === t.key && (x.value ?? undefined) === t.value && x.effect === t.effect)).map((t) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`);
  const lt = [...wrong.map((w) => `label ${w}`), ...missing.map((t) => `taint ${t} missing`)];
  if (!add('labels', 'labels and taints as the inventory says', lt.length === 0, lt.join('; ') || `${Object.keys(m.k3s.labels).length} labels, ${m.k3s.taints.length} taints`)) return out;

  const kv = node.status?.nodeInfo?.kubeletVersion ?? 'unknown';
  if (!add('kubelet', `kubelet ${m.k3s.version}`, kv === m.k3s.version, kv)) return out;

  if (hasLonghorn(m)) {
    const ln = await kubeGet<{ spec?: { disks?: Record<string, { path: string }> }; status?: { conditions?: { type: string; status: string }[]; diskStatus?: Record<string, { conditions?: { type: string; status: string }[] }> } }>(
      `/apis/longhorn.io/v1beta2/namespaces/longhorn-system/nodes/${encodeURIComponent(m.node.hostname)}`,
      c.kube,
    ).catch((e: Error) => e);
    let bad: string | null;
    if (ln instanceof Error) bad = ln.message;
    else if (!ln) bad = 'no nodes.longhorn.io object yet';
    else {
      const cond = (list: { type: string; status: string }[] | undefined, t: string) => list?.some((x) => x.type === t && x.status === 'True') ?? false;
      const disks = Object.entries(ln.spec?.disks ?? {});
      const notOk = disks.filter(([id]) => !cond(ln.status?.diskStatus?.[id]?.conditions, 'Ready') || !cond(ln.status?.diskStatus?.[id]?.conditions, 'Schedulable')).map(([id, d]) => `${id} (${d.path})`);
      bad = !cond(ln.status?.conditions, 'Ready') ? 'not Ready' : !cond(ln.status?.conditions, 'Schedulable') ? 'not Schedulable' : disks.length === 0 ? 'no disks' : notOk.length ? `disks not Ready+Schedulable: ${notOk.join(', ')}` : null;
    }
    add('longhorn', 'Longhorn node Ready and Schedulable with its disks', bad === null, bad ?? 'ok');
  }
  return out;
}

export const CHECK_ORDER: { id: CheckId; title: string }[] = [
  { id: 'address', title: 'address answers' },
  { id: 'ssh', title: 'SSH with the escrowed host key' },
  { id: 'converged', title: 'bootstrap converged' },
  { id: 'node-ready', title: 'Node Ready' },
  { id: 'labels', title: 'labels and taints' },
  { id: 'kubelet', title: 'kubelet version' },
  { id: 'longhorn', title: 'Longhorn node' },
];

export function expectedChecks(m: Manifest): CheckId[] {
  return CHECK_ORDER.map((c) => c.id).filter((id) => (m.k3s ? id !== 'longhorn' || hasLonghorn(m) : ['address', 'ssh', 'converged'].includes(id)));
}

/** Known k3s join failures, recognised in the journal. */
const PATTERNS: [RegExp, string][] = [
  [/token CA hash does not match/i, 'the join token belongs to another cluster (CA hash mismatch): fetch the current token from a server and burn again'],
  [/Node password rejected|node-passwd|duplicate hostname/i, 'the server refused the node password: the card carries a different password than the cluster has for this name (escrow missing or stale); capture again, or delete the Node (its password secret goes with it) and burn again'],
  [/127\.0\.0\.1:6444.*(TLS handshake timeout|handshake timeout)|TLS handshake timeout.*127\.0\.0\.1:6444/i, 'the agent\'s local load balancer (127.0.0.1:6444) cannot reach a server: TLS handshake timeouts; check serverUrl, the network path and the servers'],
];

export function recogniseJournal(text: string): string | null {
  for (const [re, why] of PATTERNS) if (re.test(text)) return why;
  return null;
}

/** The most useful thing to tell after a timeout, fetched over SSH (if the node answers at all). */
export async function diagnose(c: WaitContext, failed: CheckResult): Promise<string[]> {
  if (failed.id === 'address' || failed.id === 'ssh') return [];
  const unit = c.manifest.k3s?.role === 'server' ? 'k3s' : 'k3s-agent';
  const dir = c.stateDir ?? STATE;
  const script = `cat ${dir}/last-run.json 2>/dev/null || echo '{}'; echo '##'; journalctl -u ${unit} -n 60 --no-pager 2>/dev/null | tail -n 60`;
  const r = await sshRun(c.target, ['sh', '-c', script], { env: c.sshEnv, timeoutMs: 20_000 }).catch(() => null);
  if (!r) return [];
  const [reportText = '{}', journal = ''] = r.stdout.split('##\n');
  const lines: string[] = [];
  try {
    const rep = JSON.parse(reportText) as { error?: string; tasks?: { name: string; status: string; reason?: string }[] };
    if (rep.error) lines.push(`bootstrap could not run: ${rep.error}`);
    const bad = rep.tasks?.find((t) => t.status === 'failed');
    if (bad) lines.push(`bootstrap task failed: ${bad.name}: ${bad.reason ?? 'no reason given'}`);
  } catch {
    /* no report */
  }
  const known = recogniseJournal(journal);
  if (known) lines.push(`journalctl -u ${unit}: ${known}`);
  const tail = journal.trim().split('\n').filter(Boolean).slice(-5);
  if (tail.length) lines.push(`last lines of journalctl -u ${unit}:`, ...tail.map((l) => `  ${l}`));
  return lines;
}

export class WaitTimeoutError extends MetisError {
  constructor(failed: CheckResult, diagnostics: string[], timeoutSec: number) {
    super('E_WAIT_TIMEOUT', `not back after ${timeoutSec} s: check "${failed.title}" failed: ${failed.detail}${diagnostics.length ? `\n${diagnostics.join('\n')}` : ''}`, { path: failed.id });
  }
}

export interface WaitOptions {
  timeoutMs: number;
  intervalMs: number;
  onRound?: (results: CheckResult[]) => void;
  signal?: AbortSignal;
}

/** Bounded polling: rounds every intervalMs until every check holds or timeoutMs passed. */
export async function waitForNode(c: WaitContext, o: WaitOptions): Promise<CheckResult[]> {
  const deadline = Date.now() + o.timeoutMs;
  const want = expectedChecks(c.manifest);
  const maxRounds = Math.ceil(o.timeoutMs / Math.max(250, o.intervalMs)) + 1;
  let last: CheckResult[] = [];
  for (let round = 0; round < maxRounds; round++) {
    if (o.signal?.aborted) throw new MetisError('E_ABORTED', 'wait aborted');
    last = await runChecks(c);
    o.onRound?.(last);
    if (last.length === want.length && last.every((r) => r.ok)) return last;
    if (Date.now() + o.intervalMs > deadline) break;
    // The pause between rounds ends at once on an abort (Ctrl-C, the page's Cancel).
    await sleep(o.intervalMs, undefined, { signal: o.signal }).catch(() => {});
    if (o.signal?.aborted) throw new MetisError('E_ABORTED', 'wait aborted');
  }
  const failed = last.find((r) => !r.ok) ?? { id: want[last.length] ?? 'address', title: want[last.length] ?? 'checks', ok: false, detail: 'not reached' };
  throw new WaitTimeoutError(failed as CheckResult, await diagnose(c, failed as CheckResult), Math.round(o.timeoutMs / 1000));
}
