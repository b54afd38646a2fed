import { LineCounter, parseDocument } from 'yaml';
import { MetisError, ValidationError, type Issue } from '../../lib/errors.js';
import { parseBounded } from '../../manifest/bounded-yaml.js';
import { parseYamlWith } from '../../manifest/load.js';
import type { Assets, PreparsedTasks } from '../assets.js';
import type { Module } from '../types.js';
import type { TemplateRenderer } from './render.js';
import { taskListSchema, TASK_KEYS, type RawTask } from './task-schema.js';
import { parseWhen, type WhenExpr } from './when.js';

/** A validated task, not yet rendered. `where` ("tasks/20-ssh.yaml:4 (task 0 "sshd drop-in")") names it in errors. */
export interface LoadedTask {
  file: string;
  line: number | undefined;
  index: number;
  name: string;
  module: Module;
  /** Raw args from YAML; every string is rendered against the manifest at plan time. */
  args: unknown;
  when: WhenExpr | undefined;
  whenSrc: string | undefined;
  notify: string[];
  tags: string[];
  where: string;
  /** Path prefix of this task's args in errors; default `INDEX.MODULE` (a hook: `tasks.0.command`). */
  at?: string;
  /** Renders the args instead of rendering every string (a hook file's literal content stays as written). */
  renderArgs?: (renderer: TemplateRenderer, data: unknown) => unknown;
}

export interface LoadedTasks {
  tasks: LoadedTask[];
  handlers: LoadedTask[];
}

/** Loads and validates every task file and the handlers; throws ValidationError naming file, line and path. */
export function loadTasks(assets: Assets, modules: Readonly<Record<string, Module>>): LoadedTasks {
  const schema = taskListSchema(Object.keys(modules));
  const load = (file: string, text: string, pre?: PreparsedTasks): LoadedTask[] => {
    const shown = `tasks/${file}`;
    // The bundle carries each task file parsed at build time: validating that data is the same
    // check without parsing YAML on every run. Invalid data takes the text path for its error.
    const fast = pre ? schema.safeParse(pre.data) : undefined;
    const raw = (fast?.success ? fast.data : parseYamlWith(schema, text, shown)) as RawTask[];
    const lines = pre ? pre.lines.map((l) => l ?? undefined) : taskLines(text);
    const issues: Issue[] = [];
    const tasks = raw.map((t, index): LoadedTask | null => {
      const key = Object.keys(t).find((k) => !(TASK_KEYS as readonly string[]).includes(k))!;
      let when: WhenExpr | undefined;
      if (t.when !== undefined) {
        try {
          when = parseWhen(t.when);
        } catch (e) {
          issues.push({ path: `${index}.when`, message: (e as Error).message, line: lines[index] });
          return null;
        }
      }
      return {
        file: shown,
        line: lines[index],
        index,
        name: t.name,
        module: modules[key]!,
        args: t[key] ?? {},
        when,
        whenSrc: t.when,
        notify: t.notify,
        tags: t.tags,
        where: `${shown}:${lines[index] ?? '?'} (task "${t.name}")`,
      };
    });
    if (issues.length) throw new ValidationError(shown, issues);
    return tasks as LoadedTask[];
  };

  const tasks = assets.tasks.flatMap((f) => load(f.file, f.text, f.parsed));
  const handlers = assets.handlers ? load(assets.handlers.file, assets.handlers.text, assets.handlers.parsed) : [];

  const handlerNames = new Map<string, LoadedTask>();
  for (const h of handlers) {
    if (handlerNames.has(h.name)) throw new MetisError('E_TASKS', `${h.where}: duplicate handler name "${h.name}"`, { file: h.file, line: h.line });
    handlerNames.set(h.name, h);
  }
  for (const t of [...tasks, ...handlers]) {
    for (const n of t.notify) {
      if (!handlerNames.has(n)) {
        throw new ValidationError(t.file, [{ path: `${t.index}.notify`, message: `no handler named "${n}" in tasks/handlers.yaml`, line: t.line }]);
      }
    }
  }
  return { tasks, handlers };
}

/** A task file parsed ahead (scripts/build.mjs embeds this for every task file in the bundle). */
export function preparseTasks(text: string, file: string): PreparsedTasks {
  return { data: parseBounded(text, file).data, lines: taskLines(text).map((l) => l ?? null) };
}

/** 1-based line of each top-level list item. */
function taskLines(text: string): (number | undefined)[] {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  const items = (doc.contents as { items?: { range?: [number, number, number] }[] } | null)?.items ?? [];
  return items.map((n) => (n.range ? lc.linePos(n.range[0]).line : undefined));
}
