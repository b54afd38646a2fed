import { lineIdentity, removes } from '../manifest/boot.js';
import type { ClassDef, NodeDef } from './schema.js';

/**
 * Class, then node, as Ansible's group_vars then host_vars: a node entry replaces the class entry
 * with the same key in its place (files by path, tasks and handlers by name, config.txt lines by
 * what they set), and adds the others after the class's. Nothing is deep-merged: a replaced entry
 * is the node's as written.
 */
export function mergeBy<T>(key: (t: T) => string, base: readonly T[], over: readonly T[]): T[] {
  const out = [...base];
  for (const t of over) {
    const i = out.findIndex((b) => key(b) === key(t));
    if (i >= 0) out[i] = t;
    else out.push(t);
  }
  return out;
}

type Boot = NonNullable<ClassDef['boot']>;

/** config.txt per section by line identity; cmdline words: the node's add/remove win over the class's. */
export function mergeBoot(c: Boot | undefined, n: Boot | undefined): Boot | undefined {
  if (!c && !n) return undefined;
  const config: Boot['config'] = { ...(c?.config ?? {}) };
  for (const [section, lines] of Object.entries(n?.config ?? {})) config[section] = mergeBy(lineIdentity, config[section] ?? [], lines);
  const nAdd = n?.cmdline.add ?? [];
  const nRemove = n?.cmdline.remove ?? [];
  const add = [...(c?.cmdline.add ?? []).filter((w) => !nRemove.some((r) => removes(r, w)) && !nAdd.some((a) => a === w)), ...nAdd];
  const remove = [...(c?.cmdline.remove ?? []).filter((r) => !nAdd.some((w) => removes(r, w)) && !nRemove.includes(r)), ...nRemove];
  return { config, cmdline: { add, remove } };
}

export function mergeHooks(c: Pick<ClassDef, 'files' | 'tasks' | 'handlers' | 'boot' | 'image'>, n: Pick<NodeDef, 'files' | 'tasks' | 'handlers' | 'boot'>) {
  const boot = mergeBoot(c.boot, n.boot);
  return {
    files: mergeBy((f) => f.path, c.files, n.files),
    tasks: mergeBy((t) => t.name, c.tasks, n.tasks),
    handlers: mergeBy((t) => t.name, c.handlers, n.handlers),
    ...(boot ? { boot: { path: c.image.bootPath ?? '/boot/firmware', ...boot } } : {}),
  };
}
