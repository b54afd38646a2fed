import { z } from 'zod';

/** Keys every task may carry besides its one module key. */
export const TASK_KEYS = ['name', 'when', 'notify', 'tags'] as const;

/**
 * One task (task files, and the manifest's `tasks:`/`handlers:` hooks): `name`, exactly one module
 * key (its args are checked by the module's own schema after templating), optional `when`,
 * `notify` (handler names), `tags`, and any `extraKeys` the caller allows (a hook's anchor).
 */
export function taskSchema(moduleNames: readonly string[], extra: z.ZodRawShape = {}) {
  const known = new Set(moduleNames);
  const keys = new Set<string>([...TASK_KEYS, ...Object.keys(extra)]);
  return z
    .object({
      name: z.string().min(1, 'a task needs a name'),
      when: z.string().min(1).optional(),
      notify: z.array(z.string().min(1)).default([]),
      tags: z.array(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'must be a lowercase tag like early')).default([]),
      ...extra,
    })
    .catchall(z.unknown())
    .superRefine((t, ctx) => {
      const rest = Object.keys(t).filter((k) => !keys.has(k));
      for (const k of rest.filter((k) => !known.has(k))) {
        ctx.addIssue({ code: 'custom', path: [k], message: `unknown module or key "${k}" (modules: ${moduleNames.join(', ')})` });
      }
      const mods = rest.filter((k) => known.has(k));
      if (mods.length === 0 && rest.length === 0) ctx.addIssue({ code: 'custom', path: [], message: 'a task needs exactly one module key' });
      if (mods.length > 1) ctx.addIssue({ code: 'custom', path: [mods[1]!], message: `a task has exactly one module; found ${mods.join(', ')}` });
    });
}

/** The one module key of a validated task. */
export function moduleKey(t: Record<string, unknown>, extra: readonly string[] = []): string {
  return Object.keys(t).find((k) => !(TASK_KEYS as readonly string[]).includes(k) && !extra.includes(k))!;
}
