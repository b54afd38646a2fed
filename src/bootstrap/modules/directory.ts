import { z } from 'zod';
import { MetisError } from '../../lib/errors.js';
import type { Action, CheckResult, Context, DiffEntry, Module } from '../types.js';
import { absPath, octal, ownership } from './file.js';

const args = z.strictObject({ path: absPath, ...ownership });
type Args = z.output<typeof args>;

/** A directory with mode and owner: mkdir when missing, chmod/chown when they differ. Reads only. */
export async function checkDirectory(ctx: Context, a: { path: string; mode?: number; owner?: string; group?: string }): Promise<CheckResult> {
  const st = await ctx.fs.stat(a.path);
  if (st && !st.isDirectory) throw new MetisError('E_NOT_DIR', `${a.path} exists and is not a directory`, { path: a.path });
  const { uid, gid } = await ctx.fs.lookupIds(a.owner, a.group);
  const mode = a.mode ?? (st ? undefined : 0o755);
  const actions: Action[] = [];
  const diff: DiffEntry[] = [];
  if (!st) {
    actions.push({ kind: 'mkdir', path: a.path, mode: mode! });
    diff.push({ target: a.path, before: null, after: `directory ${octal(mode!)}` });
  } else if (mode !== undefined && st.mode !== mode) {
    actions.push({ kind: 'chmod', path: a.path, mode });
    diff.push({ target: `${a.path} mode`, before: octal(st.mode), after: octal(mode) });
  }
  const ownerDiffers = (uid !== undefined && st?.uid !== uid) || (gid !== undefined && st?.gid !== gid);
  if (ownerDiffers) {
    actions.push({ kind: 'chown', path: a.path, uid: uid ?? st?.uid ?? 0, gid: gid ?? st?.gid ?? 0 });
    if (st) diff.push({ target: `${a.path} owner`, before: `${st.uid}:${st.gid}`, after: `${uid ?? st.uid}:${gid ?? st.gid}` });
  }
  if (!actions.length) return { status: 'ok' };
  return { status: 'change', reason: st ? `${diff.map((d) => d.target).join(', ')} differ` : `create ${a.path}`, diff, actions };
}

export const directoryModule: Module<Args> = {
  name: 'directory',
  args,
  check: (a, ctx) => checkDirectory(ctx, a),
};
