import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { mountSchema } from '../../manifest/schema.js';
import { NOT_LIVE } from '../context.js';
import type { Context, Module } from '../types.js';
import { applyFile, checkFile, type FilePlan } from './file.js';

const args = z.strictObject({ mounts: z.array(mountSchema) });
type Args = z.output<typeof args>;
type MountSpec = Args['mounts'][number];

/** Trailing marker that makes a line Metis's own: replaced in place, never duplicated. */
export const MARK = '# metis';
export const FSTAB = '/etc/fstab';

interface Plan {
  fstab?: FilePlan;
  mkdirs: string[];
  /** Set when a device is missing or has the wrong fstype: apply fails and fstab stays as it was. */
  refuse?: string;
}

export function fstabLine(m: MountSpec): string {
  const opts = [...m.options, 'nofail', `x-systemd.device-timeout=${m.deviceTimeoutSec}s`];
  return `UUID=${m.uuid}\t${m.path}\t${m.fstype}\t${[...new Set(opts)].join(',')}\t0\t2\t${MARK}`;
}

/** Metis lines for paths still wanted are replaced where they stand; others (not ours) are kept untouched. */
export function fstabWith(current: string, mounts: MountSpec[]): string {
  const wanted = new Map(mounts.map((m) => [m.path, fstabLine(m)]));
  const out: string[] = [];
  const lines = current === '' ? [] : current.replace(/\n$/, '').split('\n');
  for (const line of lines) {
    if (!line.trimEnd().endsWith(MARK)) {
      out.push(line);
      continue;
    }
    const path = line.split(/\s+/)[1] ?? '';
    const repl = wanted.get(path);
    if (repl !== undefined) {
      out.push(repl);
      wanted.delete(path);
    }
  }
  out.push(...wanted.values());
  return out.length ? `${out.join('\n')}\n` : '';
}

/** Device path (host side) for a UUID under the root, or null; relative links resolve inside the root. */
async function deviceFor(ctx: Context, uuid: string): Promise<string | null> {
  const link = `/dev/disk/by-uuid/${uuid}`;
  const target = await ctx.fs.readlink(link);
  if (target === null) return (await ctx.fs.exists(link)) ? ctx.fs.abs(link) : null;
  return target.startsWith('/') ? target : ctx.fs.abs(resolve(dirname(link), target));
}

async function probe(ctx: Context, m: MountSpec): Promise<string | null> {
  const dev = await deviceFor(ctx, m.uuid);
  if (!dev) return `no block device with UUID ${m.uuid} (for ${m.path}): /dev/disk/by-uuid/${m.uuid} is missing`;
  const r = await ctx.exec('blkid', ['-p', '-o', 'value', '-s', 'TYPE', dev], { allowFailure: true });
  const type = r.stdout.trim();
  if (type !== m.fstype) return `device UUID ${m.uuid} (for ${m.path}) holds ${type || 'no filesystem'}, manifest says ${m.fstype}`;
  return null;
}

export const mountModule: Module<Args, Plan> = {
  name: 'mount',
  args,
  async check(a, ctx) {
    const problems = (await Promise.all(a.mounts.map((m) => probe(ctx, m)))).filter((p): p is string => p !== null);
    const current = (await ctx.fs.readText(FSTAB)) ?? '';
    const file = await checkFile(ctx, { dest: FSTAB, content: fstabWith(current, a.mounts), mode: undefined });
    const mkdirs: string[] = [];
    for (const m of a.mounts) if (!(await ctx.fs.exists(m.path))) mkdirs.push(m.path);
    if (problems.length) {
      return { status: 'change', reason: `refusing to edit ${FSTAB}: ${problems.join('; ')}`, diff: file.diff ?? [], plan: { mkdirs: [], refuse: problems.join('; ') } };
    }
    const diff = [...(file.diff ?? []), ...mkdirs.map((p) => ({ target: p, before: null, after: 'directory' }))];
    if (!diff.length) return { status: 'ok', ...(ctx.live ? {} : { reason: `mount now: ${NOT_LIVE}` }) };
    return { status: 'change', reason: [file.reason, ...mkdirs.map((p) => `create ${p}`)].filter(Boolean).join('; '), diff, plan: { fstab: file.plan, mkdirs } };
  },
  async apply(a, ctx, { plan }) {
    if (plan!.refuse) return { failed: plan!.refuse };
    for (const p of plan!.mkdirs) await ctx.fs.mkdir(p);
    if (plan!.fstab) await applyFile(ctx, plan!.fstab);
    if (!ctx.live) return undefined;
    // Report whether each path is mounted from the right device, mounting what is not.
    const mounted: Record<string, string> = {};
    for (const m of a.mounts) {
      const src = async () => (await ctx.exec('findmnt', ['-n', '-o', 'UUID', '--mountpoint', m.path], { allowFailure: true })).stdout.trim();
      if ((await src()) === '') await ctx.exec('mount', [m.path], { allowFailure: true });
      const uuid = await src();
      mounted[m.path] = uuid === m.uuid ? `mounted from UUID=${uuid}` : uuid ? `WRONG device UUID=${uuid}` : 'not mounted';
    }
    const wrong = Object.entries(mounted).filter(([, v]) => !v.startsWith('mounted'));
    return { facts: { mounted }, ...(wrong.length ? { failed: wrong.map(([p, v]) => `${p}: ${v}`).join('; ') } : {}) };
  },
};
