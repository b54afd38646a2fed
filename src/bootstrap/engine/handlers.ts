import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { MetisError } from '../../lib/errors.js';
import type { Context } from '../types.js';
import { applyPlan, type TaskOutcome } from './apply.js';
import { buildPlan, type PlannedTask, type RenderedTask } from './plan.js';

export const PENDING_FILE = 'pending-handlers.json';

export async function readPending(stateDir: string): Promise<string[]> {
  try {
    const v = JSON.parse(await fsp.readFile(join(stateDir, PENDING_FILE), 'utf8')) as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new MetisError('E_STATE', `cannot read ${join(stateDir, PENDING_FILE)}`, { cause: e });
  }
}

export async function writePending(stateDir: string, names: string[]): Promise<void> {
  const file = join(stateDir, PENDING_FILE);
  if (names.length === 0) {
    await fsp.rm(file, { force: true });
    return;
  }
  await fsp.mkdir(stateDir, { recursive: true, mode: 0o700 });
  await fsp.writeFile(`${file}.tmp`, `${JSON.stringify(names)}\n`, { mode: 0o600 });
  await fsp.rename(`${file}.tmp`, file);
}

/** Names notified by tasks that changed (in check mode: would change). */
export function notifiedBy(outcomes: TaskOutcome[]): Set<string> {
  return new Set(outcomes.filter((o) => o.status === 'changed').flatMap((o) => o.notify));
}

/**
 * Runs each notified handler once, in the order of handlers.yaml, after all tasks. When a task
 * failed the handlers do not run; they are persisted and run by the next run (pending), as a
 * handler notified by a real change must not be lost (sshd must reload its new port eventually).
 */
export async function runHandlers(
  handlers: RenderedTask[],
  notified: Set<string>,
  tasksFailed: boolean,
  ctx: Context,
  data: unknown,
  since: ReadonlyMap<string, number> = new Map(),
): Promise<TaskOutcome[]> {
  const due = handlers.filter((h) => notified.has(h.task.name));
  if (tasksFailed) {
    if (!ctx.checkMode) await writePending(ctx.stateDir, due.map((h) => h.task.name));
    return due.map((h) => ({
      name: h.task.name,
      module: h.task.module.name,
      status: 'skipped',
      reason: 'pending: a task failed; runs on the next converge',
      durationMs: 0,
      handler: true,
      notify: [],
    }));
  }
  const plan = await coveredByStart(await buildPlan(due, ctx, data), ctx, since);
  const outcomes = await applyPlan(plan, ctx, { handler: true });
  if (!ctx.checkMode) {
    const failedAt = outcomes.findIndex((o) => o.status === 'failed');
    await writePending(ctx.stateDir, failedAt < 0 ? [] : due.slice(failedAt).map((h) => h.task.name));
  }
  return outcomes;
}

const REFRESH = new Set(['try-restart', 'try-reload-or-restart']);

/**
 * A restart or reload handler is moot when the unit's running main process started after the
 * change that notified it (`since`: handler name → when that change was made, this run only): it
 * already runs with the new configuration. First boot, typically: k3s's config is written, the
 * join starts k3s, and "restart k3s" would only restart it again. Judged by systemd's own start
 * timestamp, so a unit that systemd (or socket activation) started before the change still gets
 * its restart. A handler pending from an earlier run has no time here and always runs.
 */
export async function coveredByStart(plan: PlannedTask[], ctx: Context, since: ReadonlyMap<string, number>): Promise<PlannedTask[]> {
  if (!ctx.live) return plan;
  const out: PlannedTask[] = [];
  for (const p of plan) {
    const changedAt = since.get(p.task.name);
    const c = p.check;
    // The service module puts a daemon-reload before every refresh; it runs only when a unit file
    // changed (engine/execute.ts), and the batch's own reload covers that, so it decides nothing here.
    const refreshes = c.status === 'change' ? c.actions.filter((a) => a.kind !== 'daemon-reload') : [];
    const units = refreshes.map((a) => (a.kind === 'systemctl' && REFRESH.has(a.verb) ? a.unit : null));
    if (changedAt === undefined || !units.length || units.includes(null)) {
      out.push(p);
      continue;
    }
    const started: number[] = [];
    for (const u of units) started.push((await ctx.facts.unit(u!)).mainStartedUs ?? 0);
    if (started.every((t) => t > changedAt)) {
      out.push({ ...p, check: { status: 'ok', reason: `${units.join(', ')} started after the change that notified this handler: already running with it` } });
    } else out.push(p);
  }
  return out;
}
