import { formatDiffs } from '../bootstrap/diff-text.js';
import { FLEET_EXIT } from './exit.js';
import type { HostResult } from './remote.js';
import { table } from './table.js';

/** OR over the hosts: 2 drift/changes, 4 failures (a task, or the run itself), 8 not judged. */
export function fleetExit(results: HostResult[]): number {
  let code = 0;
  for (const r of results) {
    if (r.report && r.report.error === undefined) {
      if (r.report.summary.changed > 0) code |= FLEET_EXIT.DRIFT;
      if (r.report.summary.failed > 0) code |= FLEET_EXIT.FAILED;
    } else if (r.status === 'error' || r.status === 'refused') code |= FLEET_EXIT.FAILED;
    else if (r.status !== 'ok') code |= FLEET_EXIT.UNKNOWN;
  }
  return code;
}

/** Ansible's PLAY RECAP, one line per host; a host that was not judged says why. */
export function recapLines(title: string, results: HostResult[]): string {
  const w = Math.max(...results.map((r) => r.node.length), 4);
  const lines = results.map((r) => {
    const s = r.report?.summary;
    const unreachable = ['unreachable', 'host-key', 'auth', 'timeout'].includes(r.status) ? 1 : 0;
    const counts = `ok=${s?.ok ?? 0}`.padEnd(7) + ` changed=${s?.changed ?? 0}`.padEnd(11) + ` unreachable=${unreachable}` + ` failed=${s?.failed ?? (r.status === 'ok' ? 0 : 1)}`.padEnd(10) + ` skipped=${s?.skipped ?? 0}`.padEnd(11);
    const secs = `${(r.durationMs / 1000).toFixed(1)}s`;
    return `${r.node.padEnd(w)} : ${counts} ${r.status.padEnd(14)} ${secs}${r.message ? `  ${r.message}` : ''}`;
  });
  return `${`${title} `.padEnd(72, '*')}\n${lines.join('\n')}\n`;
}

/** Every task that would change (check) or changed/failed (apply), per host. */
export function taskTable(results: HostResult[]): string {
  const rows: string[][] = [];
  for (const r of results) {
    for (const t of r.report?.tasks ?? []) {
      if (t.status === 'changed' || t.status === 'failed') rows.push([r.node, t.status === 'changed' ? (r.report!.mode === 'check' ? 'drift' : 'changed') : 'failed', t.name, t.module, (t.reason ?? '').slice(0, 160)]);
    }
  }
  return rows.length ? table(['NODE', 'STATUS', 'TASK', 'MODULE', 'REASON'], rows) : '';
}

/** --diff: each host's diffs (already redacted on the node), under its name. */
export function diffText(results: HostResult[]): string {
  return results
    .filter((r) => r.report)
    .map((r) => {
      const d = formatDiffs(r.report!);
      return d ? `=== ${r.node}\n${d}` : '';
    })
    .join('');
}
