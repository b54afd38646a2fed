import { z } from 'zod';

/** Keys every task may carry besides its one module key. */
export const TASK_KEYS = ['name', 'when', 'notify', 'tags'] as const;

/**
 * A task file is a YAML list of tasks: `name`, exactly one module key (its args are checked by the
 * module's own schema after templating), optional `when`, `notify` (handler names), `tags`.
 */
export function taskListSchema(moduleNames: readonly string[]) {
  const known = new Set(moduleNames);
  const task = z
    .object({
      name: z.string().min(1, 'a task needs a name'),
      when: z.string().min(1).optional(),
      notify: z.array(z.string().min(1)).default([]),
      tags: z.array(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'must be a lowercase tag like early')).default([]),
    })
    .catchall(z.unknown())
    .superRefine((t, ctx) => {
      const extra = Object.keys(t).filter((k) => !(TASK_KEYS as readonly string[]).includes(k));
      for (const k of extra.filter((k) => !known.has(k))) {
        ctx.addIssue({ code: 'custom', path: [k], message: `unknown module or key "${k}" (modules: ${moduleNames.join(', ')})` });
      }
      const mods = extra.filter((k) => known.has(k));
      if (mods.length === 0 && extra.length === 0) ctx.addIssue({ code: 'custom', path: [], message: 'a task needs exactly one module key' });
      if (mods.length > 1) ctx.addIssue({ code: 'custom', path: [mods[1]!], message: `a task has exactly one module; found ${mods.join(', ')}` });
    });
  return z.array(task);
}

export type RawTask = z.output<ReturnType<typeof taskListSchema>>[number];
