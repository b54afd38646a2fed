import { z } from 'zod';
import type { Action } from '../actions.js';
import { errorMessage } from '../../lib/errors.js';
import { inRootArgv, resolveEnv, type EnvValue } from '../engine/in-root.js';
import type { CheckResult, Context, Module } from '../types.js';
import { absPath } from './file.js';

/** A command: an argv list; a single string only with `shell: true` (then run by /bin/sh -c). */
const commandLine = z.union([z.array(z.string().min(1)).min(1), z.string().min(1)]);

const args = z
  .strictObject({
    argv: commandLine,
    /** Run argv (and check) through /bin/sh -c: only when said, never by accident. */
    shell: z.boolean().default(false),
    /** Skip when this path (in the managed root) exists: the command makes it. */
    creates: absPath.optional(),
    /** Run only when this path exists: the command removes it (or acts on it). */
    removes: absPath.optional(),
    /** Decides "changed": exit 0 = already done (ok), non-zero = the command runs. Runs in --check too: it must only read. */
    check: commandLine.optional(),
    chdir: absPath.optional(),
    env: z.record(z.string(), z.union([z.string(), z.strictObject({ secret: z.string().min(1) })])).default({}),
    /** Seconds before the command (and the check) is killed; default 120. */
    timeout: z.number().int().min(1).max(86_400).optional(),
  })
  .superRefine((a, ctx) => {
    for (const k of Object.keys(a.env)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) ctx.addIssue({ code: 'custom', path: ['env', k], message: 'must be an environment variable name like FAN_MODE' });
    }
    for (const key of ['argv', 'check'] as const) {
      const v = a[key];
      if (v === undefined) continue;
      if (typeof v === 'string' && !a.shell) ctx.addIssue({ code: 'custom', path: [key], message: 'a string is a shell command: give an argv list, or set shell: true' });
      if (typeof v !== 'string' && a.shell) ctx.addIssue({ code: 'custom', path: [key], message: 'with shell: true, give one command string' });
    }
  });
type Args = z.output<typeof args>;

const argvOf = (a: Args, v: string | string[]): string[] => (a.shell ? ['/bin/sh', '-c', v as string] : (v as string[]));

/** Exit codes that mean the command could not run at all (not found, not executable, killed by the timeout). */
const COULD_NOT_RUN = new Set([126, 127]);

async function runCheck(a: Args, ctx: Context): Promise<{ exitCode: number; stderr: string }> {
  const [cmd, ...rest] = inRootArgv(ctx, argvOf(a, a.check!), a.chdir);
  const env = resolveEnv(ctx, a.env);
  return ctx.exec(cmd!, rest, { allowFailure: true, timeoutMs: a.timeout ? a.timeout * 1000 : undefined, ...(env ? { env } : {}) });
}

const shown = (ctx: Context, argv: string[]) => ctx.redact.text(argv.join(' '));

/**
 * What no module covers, with Ansible's idempotence guards: `creates`, `removes`, and a `check`
 * command whose exit status decides whether the command runs. Without a guard it runs every
 * converge (and says so). Secrets go through `env`, never argv (`ps` shows argv to every user).
 */
export const commandModule: Module<Args> = {
  name: 'command',
  args,
  exclusiveCheck: true,
  async check(a, ctx): Promise<CheckResult> {
    const main = argvOf(a, a.argv);
    const words = [...main, ...(a.check ? argvOf(a, a.check) : [])];
    if (words.some((w) => ctx.redact.text(w) !== w)) {
      return { status: 'fail', reason: 'a secret value is in the command line (visible in ps): pass it in env as { secret: PATH }' };
    }
    try {
      resolveEnv(ctx, a.env); // an env naming no secret of the manifest fails here, not when it runs
    } catch (e) {
      return { status: 'fail', reason: errorMessage(e) };
    }
    if (a.creates && (await ctx.fs.exists(a.creates))) return { status: 'ok', reason: `${a.creates} exists` };
    if (a.removes && !(await ctx.fs.exists(a.removes))) return { status: 'ok', reason: `${a.removes} does not exist` };
    let why: string;
    if (a.check) {
      const r = await runCheck(a, ctx);
      if (r.exitCode === 0) return { status: 'ok', reason: 'check passed' };
      if (COULD_NOT_RUN.has(r.exitCode)) {
        return { status: 'fail', reason: `check ${shown(ctx, argvOf(a, a.check))} could not run (exit ${r.exitCode}: not found, not executable or timed out)` };
      }
      why = `check exited ${r.exitCode}`;
    } else {
      why = a.creates ? `${a.creates} missing` : a.removes ? `${a.removes} exists` : 'no creates/removes/check: runs every converge';
    }
    const env: Record<string, EnvValue> = a.env;
    const action: Action = {
      kind: 'run',
      argv: main,
      inRoot: true,
      ...(a.chdir ? { cwd: a.chdir } : {}),
      ...(Object.keys(env).length ? { env } : {}),
      ...(a.timeout ? { timeoutMs: a.timeout * 1000 } : {}),
    };
    return { status: 'change', reason: `run ${shown(ctx, main)} (${why})`, actions: [action] };
  },
  /** Runs, then proves the guard now holds: a command that leaves its guard unmet would run every converge. */
  async apply(a, ctx, plan) {
    await ctx.execute(plan.actions);
    if (a.creates && !(await ctx.fs.exists(a.creates))) return { failed: `ran, but ${a.creates} still does not exist (creates:)` };
    if (a.check) {
      const r = await runCheck(a, ctx);
      if (r.exitCode !== 0) return { failed: `ran, but check still exits ${r.exitCode}: it would run again every converge` };
    }
    return {};
  },
};
