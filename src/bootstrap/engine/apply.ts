import { errorMessage } from '../../lib/errors.js';
import type { TaskStatus, Context, DiffEntry } from '../types.js';
import type { PlannedTask } from './plan.js';

export interface TaskOutcome {
  name: string;
  module: string;
  status: TaskStatus;
  reason?: string;
  diff?: DiffEntry[];
  durationMs: number;
  handler?: boolean;
  notify: string[];
}

/**
 * Applies only the tasks the plan marked `change`, in order; stops at the first failure (later
 * tasks may depend on it: mounts before k3s) and reports the rest as skipped. In check mode
 * nothing is applied and `change` is reported as `changed` (drift).
 */
export async function applyPlan(plan: PlannedTask[], ctx: Context, opts: { handler?: boolean } = {}): Promise<TaskOutcome[]> {
  const out: TaskOutcome[] = [];
  let failedAt: string | undefined;
  for (const p of plan) {
    const base = {
      name: p.task.name,
      module: p.task.module.name,
      notify: p.task.notify,
      ...(opts.handler ? { handler: true } : {}),
      ...(p.check.diff?.length ? { diff: p.check.diff } : {}),
    };
    if (p.check.status === 'ok') {
      out.push({ ...base, status: 'ok', durationMs: p.durationMs, ...(p.check.reason ? { reason: p.check.reason } : {}) });
      continue;
    }
    if (p.check.status === 'skip') {
      out.push({ ...base, status: 'skipped', reason: p.check.reason ?? 'skipped', durationMs: p.durationMs });
      continue;
    }
    if (ctx.checkMode) {
      out.push({ ...base, status: 'changed', reason: p.check.reason, durationMs: p.durationMs });
      continue;
    }
    if (failedAt) {
      out.push({ ...base, status: 'skipped', reason: `not applied: "${failedAt}" failed earlier`, durationMs: 0 });
      continue;
    }
    const started = performance.now();
    try {
      const r = await p.task.module.apply(p.args, ctx, p.check);
      const durationMs = p.durationMs + performance.now() - started;
      if (r && r.failed) {
        failedAt = p.task.name;
        out.push({ ...base, status: 'failed', reason: r.failed, durationMs });
      } else {
        out.push({ ...base, status: 'changed', reason: p.check.reason, durationMs });
      }
    } catch (e) {
      failedAt = p.task.name;
      const reason = errorMessage(e);
      ctx.log.error({ kind: 'failed', task: p.task.name, module: p.task.module.name, err: reason }, `failed: ${p.task.name}`);
      out.push({ ...base, status: 'failed', reason, durationMs: p.durationMs + performance.now() - started });
    }
  }
  return out;
}
