import { ValidationError, MetisError, errorMessage } from '../../lib/errors.js';
import { zodIssues } from '../../manifest/load.js';
import type { CheckResult, Context, Module } from '../types.js';
import type { LoadedTask } from './load-tasks.js';
import type { TemplateRenderer } from './render.js';
import { evalWhen } from './when.js';

/** A task with its rendered, validated args; `check` is filled once the plan is built. */
export interface RenderedTask {
  task: LoadedTask;
  args: unknown;
}

export interface PlannedTask extends RenderedTask {
  check: CheckResult<unknown>;
  durationMs: number;
}

export function selectTasks(tasks: LoadedTask[], tags: readonly string[] | undefined): LoadedTask[] {
  if (!tags || tags.length === 0) return tasks;
  return tasks.filter((t) => t.tags.some((tag) => tags.includes(tag)));
}

/**
 * Renders a task's args against the manifest and validates them with the module's schema. As in
 * Ansible, `when` is decided first: a task for an absent section (no k3s) is never rendered.
 */
export function renderTask(task: LoadedTask, renderer: TemplateRenderer, data: unknown): RenderedTask {
  if (task.when && !evalWhen(task.when, data)) return { task, args: undefined };
  const rendered = task.renderArgs ? task.renderArgs(renderer, data) : renderer.value(task.args, data, task.where);
  const parsed = task.module.args.safeParse(rendered);
  if (!parsed.success) {
    const issues = zodIssues(parsed.error).map((i) => ({
      ...i,
      path: [task.at ?? `${task.index}.${task.module.name}`, i.path].filter(Boolean).join('.'),
      line: task.line,
    }));
    throw new ValidationError(task.file, issues);
  }
  return { task, args: parsed.data };
}

/**
 * Builds the whole plan: `when`, render, validate, then `check` every task. Reads only; any error
 * here aborts the run before anything on the machine changed. `when`-false tasks get a skip result.
 */
export async function buildPlan(rendered: RenderedTask[], ctx: Context, data: unknown): Promise<PlannedTask[]> {
  await prepareModules(activeTasks(rendered, data), ctx);
  return checkTasks(rendered, ctx, data);
}

export function activeTasks(rendered: RenderedTask[], data: unknown): RenderedTask[] {
  return rendered.filter((r) => !r.task.when || evalWhen(r.task.when, data));
}

/** Checks in flight at once: enough to overlap the plan's few processes and API reads with the rest. */
export const CHECK_WINDOW = 4;

/**
 * Every task's `check` (after prepareModules); `when`-false tasks are skipped. Checks only read and
 * all of them run before anything is applied, so none can see another's effect: they run side by
 * side (up to CHECK_WINDOW; a module marked `exclusiveCheck` alone), and the plan keeps the tasks'
 * order. A task's durationMs is its own check's time, overlapping others'. A check that throws
 * fails the plan with the first such task in order, as a serial plan would.
 */
export async function checkTasks(rendered: RenderedTask[], ctx: Context, data: unknown): Promise<PlannedTask[]> {
  const active = new Set(activeTasks(rendered, data));
  const results: Array<Promise<PlannedTask>> = [];
  const inFlight = new Set<Promise<unknown>>();
  const settle = async (n: number) => {
    while (inFlight.size > n) await Promise.race(inFlight);
  };
  for (const r of rendered) {
    if (!active.has(r)) {
      results.push(Promise.resolve({ ...r, check: { status: 'skip', reason: `when: ${r.task.whenSrc} is false` }, durationMs: 0 }));
      continue;
    }
    const alone = r.task.module.exclusiveCheck === true;
    await settle(alone ? 0 : CHECK_WINDOW - 1);
    const started = performance.now();
    const p = Promise.resolve()
      .then(() => r.task.module.check(r.args, ctx))
      .then(
        (check): PlannedTask => ({ ...r, check, durationMs: performance.now() - started }),
        (e: unknown) => {
          throw new MetisError('E_CHECK', `${r.task.where}: check failed: ${errorMessage(e)}`, { file: r.task.file, line: r.task.line, cause: e });
        },
      );
    // In the window until it settles, either way (its rejection is the plan's, via `results`).
    const slot: Promise<unknown> = p.catch(() => {}).then(() => inFlight.delete(slot));
    inFlight.add(slot);
    results.push(p);
    if (alone) await settle(0);
  }
  // Every check has ended before the plan returns or throws (none still reading while a caller reports).
  const settled = await Promise.allSettled(results);
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<PlannedTask>).value);
}

/** Gives each module the args of all its tasks at once, for batched state reads. */
export async function prepareModules(tasks: RenderedTask[], ctx: Context): Promise<void> {
  const byModule = new Map<Module, unknown[]>();
  for (const t of tasks) {
    if (!t.task.module.prepare) continue;
    byModule.set(t.task.module, [...(byModule.get(t.task.module) ?? []), t.args]);
  }
  // Side by side: their reads coalesce (one `systemctl show` for every module's units).
  await Promise.all([...byModule].map(([mod, args]) => mod.prepare!(args, ctx)));
}
