import { z } from 'zod';
import { MetisError } from '../../lib/errors.js';
import { REDACTED } from '../../manifest/secret.js';
import type { Action, Validator } from '../actions.js';
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
  /** Content is a secret: the diff and the action show [redacted] instead of text. */
  secret?: boolean;
  validate?: Validator;
  /**
   * The operator wrote this file's content (file/template tasks, hooks): if it carries a manifest
   * secret it must be 0600 or stricter. Built-in modules choose their modes themselves (an escrowed
   * host key's .pub is secret-marked in the manifest yet public, 0644).
   */
  guardSecretMode?: boolean;
}

export const octal = (m: number): string => `0${(m & 0o7777).toString(8).padStart(3, '0')}`;

/**
 * Compares a wanted file with what is there: content, mode, owner. Reads only. The plan is one
 * atomic write when the content differs (mode and owner set on the temp file), else a
 * chmod/chown in place.
 */
export async function checkFile(ctx: Context, spec: FileSpec): Promise<CheckResult> {
  const st = await ctx.fs.stat(spec.dest);
  if (st && !st.isFile) throw new MetisError('E_NOT_FILE', `${spec.dest} exists and is not a regular file`, { path: spec.dest });
  const { uid, gid } = await ctx.fs.lookupIds(spec.owner, spec.group);
  const current = st ? await ctx.fs.readText(spec.dest) : null;
  const mode = spec.mode ?? (st ? undefined : 0o644);
  // Content that carries a manifest secret (a template naming {{k3s.token}}) is a secret file: redacted
  // everywhere, and never readable by group or others.
  const carriesSecret = !spec.secret && ctx.redact.text(spec.content) !== spec.content;
  if (carriesSecret && spec.guardSecretMode === true && ((mode ?? st?.mode ?? 0o644) & 0o077) !== 0) {
    return { status: 'fail', reason: `${spec.dest} would hold a secret of the manifest: give it mode "0600" (or stricter)` };
  }
  spec = carriesSecret ? { ...spec, secret: true } : spec;
  const diff: DiffEntry[] = [];
  const write = current !== spec.content;
  if (write) {
    diff.push(spec.secret ? { target: spec.dest, before: current === null ? null : REDACTED, after: REDACTED } : { target: spec.dest, before: current, after: spec.content });
  }
  const modeDiffers = st !== null && mode !== undefined && st.mode !== mode;
  if (modeDiffers) diff.push({ target: `${spec.dest} mode`, before: octal(st.mode), after: octal(mode) });
  const ownerDiffers = st !== null && ((uid !== undefined && st.uid !== uid) || (gid !== undefined && st.gid !== gid));
  if (ownerDiffers) diff.push({ target: `${spec.dest} owner`, before: `${st.uid}:${st.gid}`, after: `${uid ?? st.uid}:${gid ?? st.gid}` });
  if (diff.length === 0) return { status: 'ok' };
  const actions: Action[] = [];
  if (write) {
    actions.push({
      kind: 'write',
      path: spec.dest,
      content: spec.content,
      mode: mode ?? st?.mode ?? 0o644,
      ...(uid !== undefined ? { uid } : {}),
      ...(gid !== undefined ? { gid } : {}),
      ...(spec.secret ? { secret: true } : {}),
      ...(spec.validate ? { validate: spec.validate } : {}),
    });
  } else {
    if (modeDiffers) actions.push({ kind: 'chmod', path: spec.dest, mode: mode! });
    if (ownerDiffers) actions.push({ kind: 'chown', path: spec.dest, uid: uid ?? st!.uid, gid: gid ?? st!.gid });
  }
  const reason = !st ? `create ${spec.dest}` : diff.map((d) => (d.target === spec.dest ? `${spec.dest} content` : d.target)).join(', ') + ' differ';
  return { status: 'change', reason, diff, actions };
}

const args = z.strictObject({ dest: absPath, content: z.string(), ...ownership, validate: validateSchema.optional() });
type Args = z.output<typeof args>;

export const fileModule: Module<Args> = {
  name: 'file',
  args,
  check: (a, ctx) => checkFile(ctx, { ...a, validate: a.validate ? { argv: a.validate } : undefined, guardSecretMode: true }),
};
