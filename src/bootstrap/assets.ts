import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

declare const __METIS_ASSETS__: Record<string, string> | undefined;
declare const __METIS_TASKS_PARSED__: Record<string, PreparsedTasks> | undefined;

/** A task file's YAML already parsed (at build time): its data and the line of each task. */
export interface PreparsedTasks {
  data: unknown;
  lines: (number | null)[];
}

/** Task files and templates: embedded in the bundle, read from the repo when running from source. */
export interface Assets {
  /** Task files in run order (by file name): name like "10-hostname.yaml". handlers.yaml excluded. */
  tasks: { file: string; text: string; parsed?: PreparsedTasks }[];
  /** tasks/handlers.yaml, when present. */
  handlers: { file: string; text: string; parsed?: PreparsedTasks } | null;
  /** Templates by their path under templates/ ("sshd/60-metis.conf.hbs"). */
  templates: Map<string, string>;
}

export const HANDLERS_FILE = 'handlers.yaml';

/** Builds Assets from a flat name → text map whose names start with tasks/ or templates/ (and, in the bundle, the task files parsed ahead, by the same names). */
export function assetsFrom(flat: Record<string, string>, parsed: Record<string, PreparsedTasks> = {}): Assets {
  const tasks: Assets['tasks'] = [];
  let handlers: Assets['handlers'] = null;
  const templates = new Map<string, string>();
  for (const name of Object.keys(flat).sort()) {
    const text = flat[name]!;
    if (name.startsWith('tasks/')) {
      const file = name.slice('tasks/'.length);
      const pre = parsed[name] ? { parsed: parsed[name] } : {};
      if (file === HANDLERS_FILE) handlers = { file, text, ...pre };
      else if (!file.includes('/') && file.endsWith('.yaml')) tasks.push({ file, text, ...pre });
    } else if (name.startsWith('templates/')) {
      templates.set(name.slice('templates/'.length), text);
    }
  }
  return { tasks, handlers, templates };
}

/** Reads tasks/*.yaml and templates/** under a directory (the repo, or a test fixture). */
export function readAssetDir(dir: string): Assets {
  const flat: Record<string, string> = {};
  const walk = (d: string): void => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) flat[relative(dir, p).split('\\').join('/')] = readFileSync(p, 'utf8');
    }
  };
  walk(join(dir, 'tasks'));
  walk(join(dir, 'templates'));
  return assetsFrom(flat);
}

export function loadAssets(): Assets {
  if (typeof __METIS_ASSETS__ === 'object' && __METIS_ASSETS__ !== null) {
    return assetsFrom(__METIS_ASSETS__, typeof __METIS_TASKS_PARSED__ === 'object' && __METIS_TASKS_PARSED__ !== null ? __METIS_TASKS_PARSED__ : {});
  }
  return readAssetDir(fileURLToPath(new URL('../../', import.meta.url)));
}
