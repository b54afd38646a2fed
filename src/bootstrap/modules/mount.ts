import { z } from 'zod';
import { mountSchema, type Mount } from '../../manifest/schema.js';
import type { ApplyResult, Context, DiffEntry, Module } from '../types.js';
import { applyFile, checkFile, type FilePlan } from './file.js';

const FSTAB = '/etc/fstab';
/** Metis's own fstab lines end with this comment: recognisable, replaced in place, never duplicated. */
const MARK = '# metis';

const args = z.strictObject({ mounts: z.array(mountSchema) });
type Args = z.output<typeof args>;

interface Plan {
  fstab?: FilePlan;
  dirs: string[];
  /** Devices missing or of the wrong type: the task fails at apply and fstab is left as it was. */
  problems: string[];
  mountNow: string[];
}

export function fstabLine(m: Mount): string {
  const opts = [...m.options, 'nofail', `x-systemd.device-timeout=${m.deviceTimeoutSec}s`];
  return `UUID=${m.uuid} ${m.path} ${m.fstype} ${opts.join(',')} 0 2 ${MARK}`;
}

/** Keeps every line Metis does not own; Metis lines go where the first one was (or at the end). */
export function renderFstab(current: string, mounts: Mount[]): string {
  const lines = current.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const firstOwned = lines.findIndex((l) => l.trimEnd().endsWith(MARK));
  const kept = lines.filter((l) => !l.trimEnd().endsWith(MARK));
  const ours = mounts.map(fstabLine);
  const at = firstOwned < 0 ? kept.length : lines.slice(0, firstOwned).filter((l) => !l.trimEnd().endsWith(MARK)).length;
  kept.splice(at, 0, ...ours);
  return kept.length ? `${kept.join('\n')}\n` : '';
}

async function deviceProblem(ctx: Context, m: Mount): Promise<string | null> {
  const link = `/dev/disk/by-uuid/${m.uuid}`;
  if (!(await ctx.fs.exists(link))) return `no block device with UUID ${m.uuid} (for ${m.path}): is the disk attached?`;
  const r = await ctx.exec('blkid', ['-p', '-o', 'value', '-s', 'TYPE', ctx.fs.abs(link)], { allowFailure: true });
  const type = r.stdout.trim();
  if (type !== m.fstype) return `device UUID=${m.uuid} holds ${type || 'no recognisable filesystem'}, not ${m.fstype} (for ${m.path})`;
  return null;
}

async function mountedUuid(ctx: Context, path: string): Promise<string | null> {
  const r = await ctx.exec('findmnt', ['-rn', '-o', 'UUID', '--mountpoint', path], { allowFailure: true });
  return r.exitCode === 0 ? r.stdout.trim() : null;
}

export const mountModule: Module<Args, Plan> = {
  name: 'mount',
  args,
  async check(a, ctx) {
    const plan: Plan = { dirs: [], problems: [], mountNow: [] };
    const diff: DiffEntry[] = [];
    for (const m of a.mounts) {
      const p = await deviceProblem(ctx, m);
      if (p) plan.problems.push(p);
    }
    if (plan.problems.length) return { status: 'change', reason: `will fail: ${plan.problems.join('; ')}`, plan };
    const current = (await ctx.fs.readText(FSTAB)) ?? '';
    const f = await checkFile(ctx, { dest: FSTAB, content: renderFstab(current, a.mounts), mode: 0o644 });
    if (f.status === 'change') {
      plan.fstab = f.plan;
      diff.push(...(f.diff ?? []));
    }
    for (const m of a.mounts) {
      const st = await ctx.fs.stat(m.path);
      if (!st?.isDirectory) {
        plan.dirs.push(m.path);
        diff.push({ target: m.path, before: null, after: 'directory' });
      }
      if (ctx.live && (await mountedUuid(ctx, m.path)) !== m.uuid) {
        plan.mountNow.push(m.path);
        diff.push({ target: `mount ${m.path}`, before: 'not mounted from UUID', after: `UUID=${m.uuid}` });
      }
    }
    if (!diff.length) return { status: 'ok' };
    return { status: 'change', reason: diff.map((d) => d.target).join(', '), diff, plan };
  },
  async apply(a, ctx, { plan }): Promise<ApplyResult> {
    if (plan!.problems.length) return { failed: `${plan!.problems.join('; ')}; ${FSTAB} left as it was` };
    for (const d of plan!.dirs) await ctx.fs.mkdir(d, 0o755);
    if (plan!.fstab) await applyFile(ctx, plan!.fstab);
    const mounted: Record<string, boolean> = {};
    if (ctx.live) {
      // systemd generates mount units from fstab; reload so they match before mounting.
      if (plan!.fstab) await ctx.exec('systemctl', ['daemon-reload']);
      for (const p of plan!.mountNow) await ctx.exec('mount', [p], { allowFailure: true });
      for (const m of a.mounts) mounted[m.path] = (await mountedUuid(ctx, m.path)) === m.uuid;
      const missing = Object.entries(mounted).filter(([, ok]) => !ok).map(([p]) => p);
      if (missing.length) return { facts: { mounted }, failed: `not mounted from the right device: ${missing.join(', ')}` };
    }
    return { facts: { mounted } };
  },
};
