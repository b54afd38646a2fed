import { MetisError, ValidationError } from '../../lib/errors.js';
import { anchorOf, PHASES, type HookFile, type HookTask } from '../../manifest/hooks.js';
import type { Manifest } from '../../manifest/schema.js';
import { moduleKey } from '../../manifest/task.js';
import type { Module } from '../types.js';
import type { LoadedTask, LoadedTasks } from './load-tasks.js';
import { parseWhen, type WhenExpr } from './when.js';

/** The phase of a built-in task file: `tasks/40-mounts.yaml` → mounts. */
export function phaseOf(file: string): string {
  return file.replace(/^.*\//, '').replace(/^\d+-/, '').replace(/\.yaml$/, '');
}

/**
 * Sort key of a position in the run: phase i's tasks sit at 2i+0.5, a hook `before` it at 2i, one
 * `after` it at 2i+1. A task of a phase this build does not know (a test's own task file) has none.
 */
function taskKey(t: LoadedTask): number | undefined {
  const i = (PHASES as readonly string[]).indexOf(phaseOf(t.file));
  return i < 0 ? undefined : 2 * i + 0.5;
}

function hookKey(h: { before?: string; after?: string }): number {
  const a = anchorOf(h);
  return 'before' in a ? 2 * PHASES.indexOf(a.before) : 2 * PHASES.indexOf(a.after) + 1;
}

function when(src: string | undefined, file: string, at: string): WhenExpr | undefined {
  if (src === undefined) return undefined;
  try {
    return parseWhen(src);
  } catch (e) {
    throw new ValidationError(file, [{ path: `${at}.when`, message: (e as Error).message }]);
  }
}

function fileTask(h: HookFile, i: number, file: string, modules: Readonly<Record<string, Module>>): LoadedTask {
  const mod = modules.file;
  if (!mod) throw new MetisError('E_TASKS', 'files: hooks need the file module');
  const where = `${file}: files.${i} (${h.path})`;
  const args = { dest: h.path, content: h.content ?? h.template ?? '', ...(h.mode ? { mode: h.mode } : {}), ...(h.owner ? { owner: h.owner } : {}), ...(h.group ? { group: h.group } : {}) };
  return {
    file,
    line: undefined,
    index: i,
    name: `file ${h.path}`,
    module: mod,
    args,
    when: when(h.when, file, `files.${i}`),
    whenSrc: h.when,
    notify: h.notify,
    tags: h.tags,
    where,
    at: `files.${i}`,
    // content is taken as written; a template is rendered once, with the manifest and its vars.
    renderArgs: (r, data) => (h.template === undefined ? args : { ...args, content: r.text(h.template, { ...(data as object), ...h.vars }, where) }),
  };
}

function hookTask(t: HookTask | Manifest['handlers'][number], i: number, list: 'tasks' | 'handlers', file: string, modules: Readonly<Record<string, Module>>): LoadedTask {
  const raw = t as Record<string, unknown>;
  const key = moduleKey(raw, ['before', 'after']);
  const mod = modules[key];
  if (!mod) throw new ValidationError(file, [{ path: `${list}.${i}.${key}`, message: `unknown module "${key}"` }]);
  return {
    file,
    line: undefined,
    index: i,
    name: t.name,
    module: mod,
    args: raw[key] ?? {},
    when: when(t.when, file, `${list}.${i}`),
    whenSrc: t.when,
    notify: t.notify,
    tags: t.tags,
    where: `${file}: ${list}.${i} (task "${t.name}")`,
    at: `${list}.${i}.${key}`,
  };
}

/**
 * The manifest's hooks woven into the built-in tasks: each `files:` entry and `tasks:` entry at its
 * anchor (before/after a phase; default before k3s), files first, then tasks, each in list order;
 * the manifest's `handlers:` after the built-in handlers.
 */
export function withHooks(loaded: LoadedTasks, manifest: Manifest, file: string, modules: Readonly<Record<string, Module>>): LoadedTasks {
  const hooks = [
    ...manifest.files.map((h, i) => ({ key: hookKey(h), task: fileTask(h, i, file, modules) })),
    ...manifest.tasks.map((t, i) => ({ key: hookKey(t as { before?: string; after?: string }), task: hookTask(t, i, 'tasks', file, modules) })),
  ];
  // Stable: equal keys keep files before tasks and list order.
  const pending = hooks.map((h, order) => ({ ...h, order })).sort((a, b) => a.key - b.key || a.order - b.order);
  const tasks: LoadedTask[] = [];
  for (const t of loaded.tasks) {
    const k = taskKey(t);
    if (k !== undefined) while (pending.length && pending[0]!.key < k) tasks.push(pending.shift()!.task);
    tasks.push(t);
  }
  tasks.push(...pending.map((h) => h.task));
  const handlers = [...loaded.handlers, ...manifest.handlers.map((h, i) => hookTask(h, i, 'handlers', file, modules))];
  const names = new Set(handlers.map((h) => h.name));
  for (const t of tasks) {
    for (const n of t.notify) if (!names.has(n)) throw new ValidationError(t.file, [{ path: `${t.at ?? t.index}.notify`, message: `no handler named "${n}"` }]);
  }
  return { tasks, handlers };
}
