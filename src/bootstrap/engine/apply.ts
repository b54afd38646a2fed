import { errorMessage } from '../../lib/errors.js';
import { describeAction } from '../actions.js';
import type { Action } from '../actions.js';
import type { ApplyResult, Change, Context, DiffEntry, FactValue, Module, TaskStatus } from '../types.js';
import type { PlannedTask } from './plan.js';

export interface TaskOutcome {
  name: string;
  module: string;
  status: TaskStatus;
  /** check mode: the change was planned, not made ("would change"). */
  planned?: boolean;
  reason?: string;
  diff?: DiffEntry[];
  /** The plan's actions as a person reads them (secret contents never shown). */
  actions?: string[];
  /** What apply learned: generated ids, key fingerprints, mounted state. */
  facts?: Record<string, FactValue>;
  durationMs: number;
  handler?: boolean;
  notify: string[];
}

/** When each applied change was made (CLOCK_MONOTONIC µs, the clock systemd's timestamps use); kept out of the report. */
const appliedAt = new WeakMap<TaskOutcome, number>();
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/** Handler name → when the last change that notified it was made (this run's changes only). */
export function notifiedAt(outcomes: TaskOutcome[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const o of outcomes) {
    const t = appliedAt.get(o);
    if (t !== undefined) for (const n of o.notify) out.set(n, Math.max(out.get(n) ?? 0, t));
  }
  return out;
}

/** Carries out one task's change: the module's own apply when it is imperative, else the engine executes the actions. */
export async function applyChange(mod: Module, args: unknown, ctx: Context, change: Change<unknown>): Promise<ApplyResult> {
  if (mod.apply) return (await mod.apply(args, ctx, change)) ?? {};
  return { facts: await ctx.execute(change.actions) };
}

/**
 * Applies only the tasks the plan marked `change`, in order; stops at the first failure (later
 * tasks may depend on it: mounts before k3s) and reports the rest as skipped. A check that says
 * `fail` is such a failure. In check mode nothing is applied: `change` is reported as `changed`
 * with `planned` (drift), `fail` as failed.
 */
export async function applyPlan(plan: PlannedTask[], ctx: Context, opts: { handler?: boolean } = {}): Promise<TaskOutcome[]> {
  const out: TaskOutcome[] = [];
  let failedAt: string | undefined;
  for (const p of plan) {
    const c = p.check;
    const base = {
      name: p.task.name,
      module: p.task.module.name,
      notify: p.task.notify,
      ...(opts.handler ? { handler: true } : {}),
      ...(c.status === 'change' && c.diff?.length ? { diff: c.diff } : {}),
      ...(c.status === 'change' ? { actions: c.actions.map(describeAction) } : {}),
    };
    if (c.status === 'ok') {
      out.push({ ...base, status: 'ok', durationMs: p.durationMs, ...(c.reason ? { reason: c.reason } : {}) });
      continue;
    }
    if (c.status === 'skip') {
      out.push({ ...base, status: 'skipped', reason: c.reason, durationMs: p.durationMs });
      continue;
    }
    if (c.status === 'fail') {
      failedAt ??= p.task.name;
      out.push({ ...base, status: 'failed', reason: c.reason, durationMs: p.durationMs });
      continue;
    }
    if (ctx.checkMode) {
      out.push({ ...base, status: 'changed', planned: true, reason: c.reason, durationMs: p.durationMs });
      continue;
    }
    if (failedAt) {
      out.push({ ...base, status: 'skipped', reason: `not applied: "${failedAt}" failed earlier`, durationMs: 0 });
      continue;
    }
    const started = performance.now();
    try {
      const r = await applyChange(p.task.module, p.args, ctx, c);
      const durationMs = p.durationMs + performance.now() - started;
      const facts = r.facts && Object.keys(r.facts).length ? { facts: r.facts } : {};
      if (r.failed) {
        failedAt = p.task.name;
        out.push({ ...base, ...facts, status: 'failed', reason: r.failed, durationMs });
      } else {
        const o: TaskOutcome = { ...base, ...facts, status: 'changed', reason: c.reason, durationMs };
        appliedAt.set(o, monotonicUs());
        out.push(o);
      }
    } catch (e) {
      failedAt = p.task.name;
      const reason = errorMessage(e);
      ctx.log.error({ kind: 'failed', task: p.task.name, module: p.task.module.name, err: reason }, `failed: ${p.task.name}`);
      out.push({ ...base, status: 'failed', reason, durationMs: p.durationMs + performance.now() - started });
    }
  }
  if (!ctx.checkMode) await settle(plan, out, ctx);
  return out;
}

/** The systemctl actions of a plan, parallel groups included. */
function systemctlOf(actions: readonly Action[]): Extract<Action, { kind: 'systemctl' }>[] {
  return actions.flatMap((a) => (a.kind === 'parallel' ? systemctlOf(a.groups.flat()) : a.kind === 'systemctl' ? [a] : []));
}

/**
 * The batch's end (ctx.settle): the one reload for enablements, and the starts queued with
 * --no-block awaited. A unit that did not come up fails the task that queued its start (a failed
 * reload, the last task that enabled or disabled a unit), so the run fails and its handlers wait.
 */
async function settle(plan: PlannedTask[], out: TaskOutcome[], ctx: Context): Promise<void> {
  const failed = await ctx.settle();
  for (const [what, reason] of failed) {
    const owns = (p: PlannedTask, i: number): boolean => {
      if (p.check.status !== 'change' || out[i]?.status !== 'changed') return false;
      const calls = systemctlOf(p.check.actions);
      return what === 'daemon-reload' ? calls.some((a) => a.verb === 'enable' || a.verb === 'disable') : calls.some((a) => a.noBlock && a.unit === what);
    };
    let owner = plan.length - 1;
    while (owner >= 0 && !owns(plan[owner]!, owner)) owner--;
    const o = out[owner];
    if (!o) continue;
    ctx.log.error({ kind: 'failed', task: o.name, module: o.module, err: reason }, `failed: ${o.name}`);
    out[owner] = { ...o, status: 'failed', reason };
  }
}
