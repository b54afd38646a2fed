import { z } from 'zod';
import { MetisError } from '../../lib/errors.js';
import type { DiffEntry, Module } from '../types.js';
import { absPath, octal, ownership } from './file.js';

const args = z.strictObject({ path: absPath, ...ownership });
type Args = z.output<typeof args>;
interface Plan {
  create: boolean;
  mode: number | undefined;
  uid: number | undefined;
  gid: number | undefined;
}

export const directoryModule: Module<Args, Plan> = {
  name: 'directory',
  args,
  async check(a, ctx) {
    const st = await ctx.fs.stat(a.path);
    if (st && !st.isDirectory) throw new MetisError('E_NOT_DIR', `${a.path} exists and is not a directory`, { path: a.path });
    const { uid, gid } = await ctx.fs.lookupIds(a.owner, a.group);
    const plan: Plan = { create: !st, mode: a.mode ?? (st ? undefined : 0o755), uid, gid };
    if (!st) return { status: 'change', reason: `create ${a.path}`, diff: [{ target: a.path, before: null, after: `directory ${octal(plan.mode!)}` }], plan };
    const diff: DiffEntry[] = [];
    if (plan.mode !== undefined && st.mode !== plan.mode) diff.push({ target: `${a.path} mode`, before: octal(st.mode), after: octal(plan.mode) });
    if ((uid !== undefined && st.uid !== uid) || (gid !== undefined && st.gid !== gid)) {
      diff.push({ target: `${a.path} owner`, before: `${st.uid}:${st.gid}`, after: `${uid ?? st.uid}:${gid ?? st.gid}` });
    }
    return diff.length ? { status: 'change', reason: diff.map((d) => d.target).join(', ') + ' differ', diff, plan } : { status: 'ok' };
  },
  async apply(a, ctx, { plan }) {
    if (plan!.create) await ctx.fs.mkdir(a.path, plan!.mode);
    if (plan!.mode !== undefined) await ctx.fs.chmod(a.path, plan!.mode);
    if (plan!.uid !== undefined || plan!.gid !== undefined) {
      const st = await ctx.fs.stat(a.path);
      await ctx.fs.chown(a.path, plan!.uid ?? st!.uid, plan!.gid ?? st!.gid);
    }
  },
};
