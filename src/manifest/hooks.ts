import { z } from 'zod';
import * as f from './fields.js';
import { taskSchema } from './task.js';

/**
 * The phases of a converge, in order: the built-in task files `tasks/NN-<phase>.yaml` without their
 * number (test/manifest/hooks.test.ts holds the two lists together). A hook anchors to one.
 */
export const PHASES = ['identity', 'growroot', 'hostname', 'network', 'ssh', 'users', 'journald', 'boot', 'mounts', 'iscsi', 'k3s', 'motd', 'scrub-secrets'] as const;
export type Phase = (typeof PHASES)[number];

/** Where a hook runs when it names no phase: after the node is set up, before k3s starts on it. */
export const DEFAULT_ANCHOR = { before: 'k3s' } as const;

/**
 * Modules a hook task may use. The others converge a whole manifest section (network, users,
 * k3s…): a second task of theirs would fight the built-in one; set the section instead.
 */
export const HOOK_MODULES = ['command', 'file', 'template', 'directory', 'service'] as const;

/** tasks/handlers.yaml's names (test/manifest/hooks.test.ts checks them against the file). */
export const BUILTIN_HANDLERS = ['reload sshd', 'restart journald', 'restart k3s', 'restart iscsid'] as const;

const phase = z.enum(PHASES, { message: `must be a phase: ${PHASES.join(', ')}` });
const anchor = { before: phase.optional(), after: phase.optional() };

const fileMode = z.string().regex(/^0?[0-7]{3,4}$/, 'must be an octal mode string like "0644" (quoted)');

/** A file a class or node adds: literal `content`, or a handlebars `template` rendered with the manifest and `vars`. */
export const hookFileSchema = z
  .strictObject({
    path: f.absPath,
    content: z.string().optional(),
    template: z.string().optional(),
    /** Values for the template, merged over the manifest (vars.x wins over a manifest key x). */
    vars: z.record(z.string(), z.unknown()).default({}),
    mode: fileMode.optional(),
    owner: f.unixUser.optional(),
    group: f.unixUser.optional(),
    notify: z.array(z.string().min(1)).default([]),
    when: z.string().min(1).optional(),
    tags: z.array(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'must be a lowercase tag like early')).default([]),
    ...anchor,
  })
  .superRefine((v, ctx) => {
    if ((v.content === undefined) === (v.template === undefined)) ctx.addIssue({ code: 'custom', path: ['content'], message: 'give exactly one of content and template' });
    if (v.template === undefined && Object.keys(v.vars).length) ctx.addIssue({ code: 'custom', path: ['vars'], message: 'vars are for a template' });
    checkAnchor(v, ctx);
  });

export const hookTaskSchema = taskSchema(HOOK_MODULES, anchor).superRefine((v, ctx) => checkAnchor(v as { before?: string; after?: string }, ctx));
export const hookHandlerSchema = taskSchema(HOOK_MODULES);

function checkAnchor(v: { before?: string; after?: string }, ctx: z.RefinementCtx): void {
  if (v.before !== undefined && v.after !== undefined) ctx.addIssue({ code: 'custom', path: ['after'], message: 'give before or after, not both' });
}

export type HookFile = z.output<typeof hookFileSchema>;
export type HookTask = z.output<typeof hookTaskSchema>;

/** Where a hook runs: its anchor, or the default one. */
export function anchorOf(h: { before?: string | undefined; after?: string | undefined }): { before: Phase } | { after: Phase } {
  if (h.after) return { after: h.after as Phase };
  return { before: (h.before ?? DEFAULT_ANCHOR.before) as Phase };
}

/**
 * Cross-entry rules: one file per path, one task or handler per name, a handler never named like a
 * built-in one, and every `notify` naming a handler that exists.
 */
export function checkHooks(m: { files: HookFile[]; tasks: HookTask[]; handlers: Array<{ name: string; notify: string[] }> }, ctx: z.RefinementCtx): void {
  const dup = (list: string[], at: string, what: string, key: string) => {
    const seen = new Map<string, number>();
    list.forEach((k, i) => {
      const prev = seen.get(k);
      if (prev !== undefined) ctx.addIssue({ code: 'custom', path: [at, i, key], message: `duplicate ${what} (also ${at}.${prev}.${key})` });
      seen.set(k, i);
    });
  };
  dup(m.files.map((x) => x.path), 'files', 'file path', 'path');
  dup(m.tasks.map((x) => x.name), 'tasks', 'task name', 'name');
  dup(m.handlers.map((x) => x.name), 'handlers', 'handler name', 'name');
  m.handlers.forEach((h, i) => {
    if ((BUILTIN_HANDLERS as readonly string[]).includes(h.name)) ctx.addIssue({ code: 'custom', path: ['handlers', i, 'name'], message: `"${h.name}" is a built-in handler: choose another name` });
  });
  const known = new Set<string>([...BUILTIN_HANDLERS, ...m.handlers.map((h) => h.name)]);
  const notifyCheck = (at: string, list: Array<{ notify: string[] }>) =>
    list.forEach((x, i) =>
      x.notify.forEach((n, j) => {
        if (!known.has(n)) ctx.addIssue({ code: 'custom', path: [at, i, 'notify', j], message: `no handler named "${n}" (handlers: ${[...known].join(', ')})` });
      }),
    );
  notifyCheck('files', m.files);
  notifyCheck('tasks', m.tasks);
  notifyCheck('handlers', m.handlers);
}
