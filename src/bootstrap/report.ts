import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Redactor } from '../lib/redact.js';
import type { DiffEntry, FactValue, TaskStatus } from './types.js';
import type { TaskOutcome } from './engine/apply.js';
import type { NodeReportOutcome } from './node-report.js';

export interface TaskReport {
  name: string;
  module: string;
  status: TaskStatus;
  /** check mode: a change planned, not made (printed "would change"). */
  planned?: boolean;
  diff?: DiffEntry[];
  /** The plan's actions, one line each (files with modes, commands as argv). */
  actions?: string[];
  /** What apply learned: generated ids, key fingerprints, mounted state. */
  facts?: Record<string, FactValue>;
  reason?: string;
  durationMs: number;
  handler?: boolean;
}

/** Milliseconds per phase of the run (a boot-time budget is measured with these). */
export interface PhaseTimings {
  /** manifest read + validated, task files loaded + rendered */
  loadMs: number;
  /** batched fact reads before the checks (prepare: one systemctl for every unit) */
  factsMs: number;
  /** every task's check */
  planMs: number;
  /** carrying out the planned changes */
  applyMs: number;
  handlersMs: number;
  /** the run's outcome sent onto its own Node (full runs; the node report) */
  reportMs?: number;
}

export interface Report {
  version: string;
  mode: 'apply' | 'check';
  manifestHash: string | null;
  manifestPath: string | null;
  startedAt: string;
  durationMs: number;
  phases: PhaseTimings;
  summary: { ok: number; changed: number; failed: number; skipped: number };
  tasks: TaskReport[];
  /** Set when the run could not start or could not build its plan (exit 1); nothing was changed. */
  error?: string;
  /** The error's code (E_SCHEMA_VERSION, E_NO_MANIFEST, E_LOCKED…), so callers tell them apart. */
  errorCode?: string;
  /** Boot files changed and not yet booted with (docs/pi-boot.md): "reboot required". */
  rebootRequired?: string[];
  /** What --reboot-if-required did: rebooting, or why not. */
  reboot?: string;
  /** The boot run's full converge: how long it waited for metis-online.target before it began. */
  bootWait?: { target: string; waitedMs: number; ok: boolean };
  /** What became of the report onto this node's own Node object (docs/fleet.md). */
  node?: NodeReportOutcome;
}

export const REPORT_FILE = 'last-run.json';
export const HISTORY_DIR = 'runs';
export const HISTORY_KEEP = 10;

export function summarize(tasks: readonly { status: TaskStatus }[]): Report['summary'] {
  const s = { ok: 0, changed: 0, failed: 0, skipped: 0 };
  for (const t of tasks) s[t.status]++;
  return s;
}

/** Every string (diffs, reasons, errors) passes the redactor: the report is safe to print and keep. */
export function buildReport(base: Omit<Report, 'summary' | 'tasks'>, outcomes: TaskOutcome[], redact: Redactor): Report {
  const tasks: TaskReport[] = outcomes.map(({ notify: _n, ...t }) => t);
  return redact.deep({ ...base, summary: summarize(tasks), tasks });
}

/** Puppet-style detailed exit codes: 0 converged, 2 changed/drift, 4 failed, 6 both; 1 = could not run. */
export function exitCodeFor(report: Report): number {
  if (report.error !== undefined) return 1;
  return (report.summary.changed > 0 ? 2 : 0) | (report.summary.failed > 0 ? 4 : 0);
}

export function recapLine(r: Pick<Report, 'summary'>): string {
  const s = r.summary;
  return `ok=${s.ok} changed=${s.changed} failed=${s.failed} skipped=${s.skipped}`;
}

/** STATE/last-run.json plus STATE/runs/<startedAt>-<mode>.json, the newest HISTORY_KEEP kept. */
export async function writeReport(stateDir: string, report: Report): Promise<void> {
  await fsp.mkdir(join(stateDir, HISTORY_DIR), { recursive: true, mode: 0o700 });
  const text = `${JSON.stringify(report, null, 2)}\n`;
  const target = join(stateDir, REPORT_FILE);
  await fsp.writeFile(`${target}.tmp`, text, { mode: 0o600 });
  await fsp.rename(`${target}.tmp`, target);
  const stamp = report.startedAt.replace(/[:.]/g, '-');
  await fsp.writeFile(join(stateDir, HISTORY_DIR, `${stamp}-${report.mode}.json`), text, { mode: 0o600 });
  const old = (await fsp.readdir(join(stateDir, HISTORY_DIR))).filter((f) => f.endsWith('.json')).sort();
  for (const f of old.slice(0, Math.max(0, old.length - HISTORY_KEEP))) await fsp.rm(join(stateDir, HISTORY_DIR, f), { force: true });
}
