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

/** Every task's `check`, in order (after prepareModules); `when`-false tasks are skipped. */
export async function checkTasks(rendered: RenderedTask[], ctx: Context, data: unknown): Promise<PlannedTask[]> {
  const active = activeTasks(rendered, data);
  const planned: PlannedTask[] = [];
  for (const r of rendered) {
    const started = performance.now();
    if (!active.includes(r)) {
      planned.push({ ...r, check: { status: 'skip', reason: `when: ${r.task.whenSrc} is false` }, durationMs: 0 });
      continue;
    }
    let check: CheckResult<unknown>;
    try {
      check = await r.task.module.check(r.args, ctx);
    } catch (e) {
      throw new MetisError('E_CHECK', `${r.task.where}: check failed: ${errorMessage(e)}`, { file: r.task.file, line: r.task.line, cause: e });
    }
    planned.push({ ...r, check, durationMs: performance.now() - started });
  }
  return planned;
}

/** Gives each module the args of all its tasks at once, for batched state reads. */
export async function prepareModules(tasks: RenderedTask[], ctx: Context): Promise<void> {
  const byModule = new Map<Module, unknown[]>();
  for (const t of tasks) {
    if (!t.task.module.prepare) continue;
    byModule.set(t.task.module, [...(byModule.get(t.task.module) ?? []), t.args]);
  }
  for (const [mod, args] of byModule) await mod.prepare!(args, ctx);
}
