import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { MetisError } from '../../lib/errors.js';
import type { Context } from '../types.js';
import { applyPlan, type TaskOutcome } from './apply.js';
import { buildPlan, type RenderedTask } from './plan.js';

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
  const plan = await buildPlan(due, ctx, data);
  const outcomes = await applyPlan(plan, ctx, { handler: true });
  if (!ctx.checkMode) {
    const failedAt = outcomes.findIndex((o) => o.status === 'failed');
    await writePending(ctx.stateDir, failedAt < 0 ? [] : due.slice(failedAt).map((h) => h.task.name));
  }
  return outcomes;
}
