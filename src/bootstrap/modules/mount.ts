import { readFile, realpath, stat } from 'node:fs/promises';
import { z } from 'zod';
import { devno, parseMountinfo } from '../../core/mountinfo.js';
import { mountSchema, type Mount } from '../../manifest/schema.js';
import type { Action, ApplyResult, Context, DiffEntry, Module } from '../types.js';
import { checkFile } from './file.js';

const FSTAB = '/etc/fstab';
/** Metis's own fstab lines end with this comment: recognisable, replaced in place, never duplicated. */
const MARK = '# metis';

const args = z.strictObject({ mounts: z.array(mountSchema) });
type Args = z.output<typeof args>;


export function fstabLine(m: Mount): string {
  // nofail drops the mount's ordering before local-fs.target; x-systemd.before puts it back before the
  // converge, so at boot the bootstrap judges mounts systemd has finished (mounted, or failed after the
  // device timeout) instead of racing them and reporting systemd's own mount as its change. The boot
  // run waits for metis-online.target (src/bootstrap/boot.ts); a full run by hand is the unit.
  const opts = [...m.options, 'nofail', `x-systemd.device-timeout=${m.deviceTimeoutSec}s`, 'x-systemd.before=metis-online.target', 'x-systemd.before=metis-bootstrap.service'];
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

/** The mount points an fstab text names (second field of every entry). */
export function fstabMountPoints(text: string): Set<string> {
  const out = new Set<string>();
  for (const l of text.split('\n')) {
    const f = l.trim().split(/\s+/);
    if (f[0] && !f[0].startsWith('#') && f[1]) out.add(f[1]);
  }
  return out;
}

/** What is mounted at a mount point (the topmost mount), and whether it is the disk of the mount's UUID. */
export interface MountState {
  fromUuid: boolean;
  fstype: string | null;
}

/**
 * Live: read from /proc/self/mountinfo, no process (findmnt reads the same). The disk is the one
 * /dev/disk/by-uuid/UUID points to: same device number, or (btrfs and others report an anonymous
 * one) the same device path as the mount's source.
 */
export async function mountState(ctx: Context, m: Mount, mountinfo = '/proc/self/mountinfo'): Promise<MountState> {
  const top = parseMountinfo(await readFile(mountinfo, 'utf8')).filter((e) => e.mountPoint === m.path).at(-1);
  if (!top) return { fromUuid: false, fstype: null };
  const link = ctx.fs.abs(`/dev/disk/by-uuid/${m.uuid}`);
  const st = await stat(link).catch(() => null);
  const same = !!st?.isBlockDevice() && (devno(st.rdev) === top.dev || (await realpath(link).catch(() => null)) === (await realpath(top.source).catch(() => top.source)));
  return { fromUuid: same, fstype: top.fstype };
}

async function deviceProblem(ctx: Context, m: Mount, state: MountState | null): Promise<string | null> {
  const link = `/dev/disk/by-uuid/${m.uuid}`;
  if (!(await ctx.fs.exists(link))) return `no block device with UUID ${m.uuid} (for ${m.path}): is the disk attached?`;
  // Mounted from this disk as the stated type: the kernel has already judged the filesystem.
  if (state?.fromUuid && state.fstype === m.fstype) return null;
  const r = await ctx.exec('blkid', ['-p', '-o', 'value', '-s', 'TYPE', ctx.fs.abs(link)], { allowFailure: true });
  const type = r.stdout.trim();
  if (type !== m.fstype) return `device UUID=${m.uuid} holds ${type || 'no recognisable filesystem'}, not ${m.fstype} (for ${m.path})`;
  return null;
}

export const mountModule: Module<Args> = {
  name: 'mount',
  args,
  async check(a, ctx) {
    const problems: string[] = [];
    const states: (MountState | null)[] = [];
    for (const m of a.mounts) states.push(ctx.live ? await mountState(ctx, m) : null);
    for (const [i, m] of a.mounts.entries()) {
      const p = await deviceProblem(ctx, m, states[i]!);
      if (p) problems.push(p);
    }
    // A missing or wrong disk fails the task, and fstab is left as it was.
    if (problems.length) return { status: 'fail', reason: `${problems.join('; ')}; ${FSTAB} left as it was` };
    const actions: Action[] = [];
    const diff: DiffEntry[] = [];
    for (const m of a.mounts) {
      const st = await ctx.fs.stat(m.path);
      if (!st?.isDirectory) {
        actions.push({ kind: 'mkdir', path: m.path, mode: 0o755 });
        diff.push({ target: m.path, before: null, after: 'directory' });
      }
    }
    const current = (await ctx.fs.readText(FSTAB)) ?? '';
    const f = await checkFile(ctx, { dest: FSTAB, content: renderFstab(current, a.mounts), mode: 0o644 });
    if (f.status === 'change') {
      actions.push(...f.actions);
      diff.push(...(f.diff ?? []));
    }
    if (ctx.live) {
      const mountNow = [];
      for (const [i, m] of a.mounts.entries()) {
        if (states[i]?.fromUuid) continue;
        mountNow.push(m.path);
        diff.push({ target: `mount ${m.path}`, before: 'not mounted from UUID', after: `UUID=${m.uuid}` });
      }
      // A mount point the old fstab already named may have a mount unit from that line (another
      // device, say): systemd must re-read fstab first, or it may unmount what we mount. A new mount
      // point has no unit to fight; the reload before the next start (or at the tasks' end) reads
      // the new fstab then: one reload for a first boot's mounts and k3s units together.
      const before = fstabMountPoints(current);
      const reload: Action[] = mountNow.some((p) => before.has(p)) ? [{ kind: 'daemon-reload' }] : [];
      if (mountNow.length) actions.push(...reload, ...mountNow.map((p): Action => ({ kind: 'run', argv: ['mount', p], okCodes: 'any' })));
    }
    if (!diff.length) return { status: 'ok' };
    return { status: 'change', reason: diff.map((d) => d.target).join(', '), diff, actions };
  },
  /** The actions, then (live) the proof: every mount point is mounted from its UUID. */
  async apply(a, ctx, plan): Promise<ApplyResult> {
    await ctx.execute(plan.actions);
    if (!ctx.live) return {};
    const mounted: Record<string, boolean> = {};
    for (const m of a.mounts) mounted[m.path] = (await mountState(ctx, m)).fromUuid;
    const missing = Object.entries(mounted).filter(([, ok]) => !ok).map(([p]) => p);
    if (missing.length) return { facts: { mounted }, failed: `not mounted from the right device: ${missing.join(', ')}` };
    return { facts: { mounted } };
  },
};
