import { z } from 'zod';
import { MetisError } from '../../lib/errors.js';
import type { CheckResult, Context, DiffEntry, Module } from '../types.js';

/** File modes are octal strings ("0644"): YAML 1.2 reads an unquoted 0644 as the decimal 644. */
export const modeSchema = z
  .string()
  .regex(/^0?[0-7]{3,4}$/, 'must be an octal mode string like "0644" (quoted)')
  .transform((s) => parseInt(s, 8));

export const ownership = {
  mode: modeSchema.optional(),
  owner: z.string().min(1).optional(),
  group: z.string().min(1).optional(),
};

export const absPath = z.string().regex(/^\/[^\0]*$/, 'must be an absolute path');

/** argv run against the finished temp file before it replaces the target; "%s" is the temp path. */
export const validateSchema = z.array(z.string().min(1)).min(1).refine((a) => a.some((x) => x.includes('%s')), 'must contain %s (the temp file)');

export interface FileSpec {
  dest: string;
  content: string;
  mode?: number;
  owner?: string;
  group?: string;
}

export interface FilePlan {
  dest: string;
  content: string;
  /** write the content (temp + rename), else only fix mode/owner in place */
  write: boolean;
  mode: number | undefined;
  uid: number | undefined;
  gid: number | undefined;
}

export const octal = (m: number): string => `0${(m & 0o7777).toString(8).padStart(3, '0')}`;

/** Compares a wanted file with what is there: content, mode, owner. Reads only. */
export async function checkFile(ctx: Context, spec: FileSpec): Promise<CheckResult<FilePlan>> {
  const st = await ctx.fs.stat(spec.dest);
  if (st && !st.isFile) throw new MetisError('E_NOT_FILE', `${spec.dest} exists and is not a regular file`, { path: spec.dest });
  const { uid, gid } = await ctx.fs.lookupIds(spec.owner, spec.group);
  const current = st ? await ctx.fs.readText(spec.dest) : null;
  const diff: DiffEntry[] = [];
  const write = current !== spec.content;
  if (write) diff.push({ target: spec.dest, before: current, after: spec.content });
  const mode = spec.mode ?? (st ? undefined : 0o644);
  if (st && mode !== undefined && st.mode !== mode) diff.push({ target: `${spec.dest} mode`, before: octal(st.mode), after: octal(mode) });
  if (st && ((uid !== undefined && st.uid !== uid) || (gid !== undefined && st.gid !== gid))) {
    diff.push({ target: `${spec.dest} owner`, before: `${st.uid}:${st.gid}`, after: `${uid ?? st.uid}:${gid ?? st.gid}` });
  }
  if (diff.length === 0) return { status: 'ok' };
  const reason = !st ? `create ${spec.dest}` : diff.map((d) => (d.target === spec.dest ? `${spec.dest} content` : d.target)).join(', ') + ' differ';
  return { status: 'change', reason, diff, plan: { dest: spec.dest, content: spec.content, write, mode, uid, gid } };
}

/** Does what checkFile planned: an atomic write (validated first), or a chmod/chown in place. */
export async function applyFile(ctx: Context, plan: FilePlan, validate?: (tmp: string) => Promise<void>): Promise<void> {
  if (plan.write) {
    const st = await ctx.fs.stat(plan.dest);
    await ctx.fs.write(plan.dest, plan.content, {
      mode: plan.mode ?? st?.mode ?? 0o644,
      uid: plan.uid ?? st?.uid,
      gid: plan.gid ?? st?.gid,
      validate,
    });
    return;
  }
  if (plan.mode !== undefined) await ctx.fs.chmod(plan.dest, plan.mode);
  if (plan.uid !== undefined || plan.gid !== undefined) {
    const st = await ctx.fs.stat(plan.dest);
    await ctx.fs.chown(plan.dest, plan.uid ?? st!.uid, plan.gid ?? st!.gid);
  }
}

/** A validate hook running argv with %s replaced by the temp file; a non-zero exit refuses the file. */
export function validateWith(ctx: Context, argv: readonly string[] | undefined): ((tmp: string) => Promise<void>) | undefined {
  if (!argv) return undefined;
  return async (tmp) => {
    const [cmd, ...rest] = argv.map((a) => a.split('%s').join(tmp));
    await ctx.exec(cmd!, rest);
  };
}

const args = z.strictObject({ dest: absPath, content: z.string(), ...ownership, validate: validateSchema.optional() });
type Args = z.output<typeof args>;

export const fileModule: Module<Args, FilePlan> = {
  name: 'file',
  args,
  check: (a, ctx) => checkFile(ctx, a),
  apply: (a, ctx, plan) => applyFile(ctx, plan.plan!, validateWith(ctx, a.validate)),
};
