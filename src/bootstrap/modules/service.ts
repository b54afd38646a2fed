import { z } from 'zod';
import { NOT_LIVE } from '../context.js';
import type { Context, DiffEntry, Module } from '../types.js';

const unitName = z
  .string()
  .regex(/^[A-Za-z0-9:_.@-]+$/, 'must be a systemd unit name')
  .transform((u) => (/\.(service|socket|timer|mount|target|path|automount|swap)$/.test(u) ? u : `${u}.service`));

const args = z
  .strictObject({
    name: unitName,
    enabled: z.boolean().optional(),
    /**
     * restarted/reloaded refresh a running unit (for handlers): a unit that is not running has
     * nothing to refresh and is left to its own start (or a `started` task).
     */
    state: z.enum(['started', 'stopped', 'restarted', 'reloaded']).optional(),
  })
  .refine((a) => a.enabled !== undefined || a.state !== undefined, 'give enabled and/or state');
type Args = z.output<typeof args>;

export interface UnitState {
  /** systemctl's UnitFileState / is-enabled word: enabled, disabled, static, masked, not-found… */
  fileState: string;
  /** ActiveState (live only): active, inactive, failed, activating… */
  activeState: string | null;
}

interface Plan {
  enable?: boolean;
  action?: 'start' | 'stop' | 'restart' | 'reload';
}

/** ActiveStates in which a restart/reload has something to act on. */
const RUNNING = new Set(['active', 'reloading', 'activating']);
const ENABLED_OK = new Set(['enabled', 'static', 'alias', 'indirect', 'generated', 'enabled-runtime']);
const DISABLED_OK = new Set(['disabled', 'static', 'masked', 'not-found', '']);
const UNIT_DIRS = ['/etc/systemd/system', '/run/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system'];
/** A unit file written during this run means systemd must re-read units before starting anything. */
const UNIT_PATH = /^\/(etc|run|usr\/lib|lib)\/systemd\/system\//;

const factKey = (unit: string) => `systemd:unit:${unit}`;

/**
 * Reads the state of many units with one process: live `systemctl show` (blocks in argument
 * order); under --root `systemctl --root=DIR is-enabled`, which stops at the first unknown unit,
 * so units without a unit file are answered "not-found" without asking.
 */
export async function readUnits(ctx: Context, units: string[]): Promise<Map<string, UnitState>> {
  const out = new Map<string, UnitState>();
  if (units.length === 0) return out;
  if (ctx.live) {
    const r = await ctx.exec('systemctl', ['show', '-p', 'Id,ActiveState,UnitFileState', '--', ...units]);
    return parseShow(r.stdout, units);
  }
  const present: string[] = [];
  for (const u of units) {
    const template = u.replace(/@[^.]+\./, '@.');
    const found = await anyExists(ctx, UNIT_DIRS.flatMap((d) => [`${d}/${u}`, `${d}/${template}`]));
    if (found) present.push(u);
    else out.set(u, { fileState: 'not-found', activeState: null });
  }
  if (present.length) {
    const r = await ctx.exec('systemctl', [`--root=${ctx.root}`, 'is-enabled', '--', ...present], { allowFailure: true });
    const lines = r.stdout.split('\n');
    present.forEach((u, i) => out.set(u, { fileState: (lines[i] ?? '').trim() || 'not-found', activeState: null }));
  }
  return out;
}

/** `systemctl show` prints one block per unit, in argument order, separated by blank lines. */
export function parseShow(stdout: string, units: string[]): Map<string, UnitState> {
  const blocks = stdout.split(/\n\s*\n/);
  return new Map(
    units.map((u, i) => {
      const kv = Object.fromEntries((blocks[i] ?? '').split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      return [u, { fileState: kv.UnitFileState || 'not-found', activeState: kv.ActiveState ?? null }];
    }),
  );
}

async function anyExists(ctx: Context, paths: string[]): Promise<boolean> {
  for (const p of paths) if (await ctx.fs.exists(p)) return true;
  return false;
}

async function unitState(ctx: Context, unit: string): Promise<UnitState> {
  return ctx.facts.get(factKey(unit), async () => (await readUnits(ctx, [unit])).get(unit)!);
}

/** daemon-reload once after unit files changed in this run (live only). */
async function reloadIfUnitsChanged(ctx: Context): Promise<void> {
  const changed = ctx.fs.written.filter((p) => UNIT_PATH.test(p)).length;
  const done = await ctx.facts.get('systemd:reloaded-count', async () => ({ n: 0 }));
  if (changed > done.n) {
    await ctx.exec('systemctl', ['daemon-reload']);
    done.n = changed;
  }
}

export const serviceModule: Module<Args, Plan> = {
  name: 'service',
  args,
  async prepare(all, ctx) {
    const units = [...new Set(all.map((a) => a.name))];
    const states = await readUnits(ctx, units);
    for (const [u, s] of states) await ctx.facts.get(factKey(u), async () => s);
  },
  async check(a, ctx) {
    const s = await unitState(ctx, a.name);
    const plan: Plan = {};
    const diff: DiffEntry[] = [];
    const reasons: string[] = [];
    if (a.enabled === true && !ENABLED_OK.has(s.fileState)) plan.enable = true;
    if (a.enabled === false && !DISABLED_OK.has(s.fileState)) plan.enable = false;
    if (plan.enable !== undefined) {
      diff.push({ target: `unit ${a.name}`, before: s.fileState, after: plan.enable ? 'enabled' : 'disabled' });
      reasons.push(`${plan.enable ? 'enable' : 'disable'} ${a.name} (is ${s.fileState})`);
    }
    let notLive = false;
    let notRunning = false;
    if (a.state && !ctx.live) notLive = true;
    else if (a.state === 'started' && s.activeState !== 'active') plan.action = 'start';
    else if (a.state === 'stopped' && s.activeState !== 'inactive' && s.activeState !== 'failed') plan.action = 'stop';
    else if ((a.state === 'restarted' || a.state === 'reloaded') && !RUNNING.has(s.activeState ?? '')) notRunning = true;
    else if (a.state === 'restarted') plan.action = 'restart';
    else if (a.state === 'reloaded') plan.action = 'reload';
    if (plan.action) {
      diff.push({ target: `unit ${a.name} state`, before: s.activeState, after: plan.action });
      reasons.push(`${plan.action} ${a.name}`);
    }
    const liveNote = notLive ? `state ${a.state}: ${NOT_LIVE}` : undefined;
    if (diff.length) return { status: 'change', reason: [...reasons, ...(liveNote ? [liveNote] : [])].join('; '), diff, plan };
    if (notLive && (a.state === 'restarted' || a.state === 'reloaded') && a.enabled === undefined) return { status: 'skip', reason: liveNote };
    if (notRunning) return { status: 'ok', reason: `${a.name} is ${s.activeState}: nothing to ${a.state === 'restarted' ? 'restart' : 'reload'}` };
    return { status: 'ok', ...(liveNote ? { reason: liveNote } : {}) };
  },
  async apply(a, ctx, { plan }) {
    if (plan!.enable !== undefined) {
      const verb = plan!.enable ? 'enable' : 'disable';
      await ctx.exec('systemctl', ctx.live ? [verb, '--', a.name] : [`--root=${ctx.root}`, verb, '--', a.name]);
    }
    if (plan!.action) {
      await reloadIfUnitsChanged(ctx);
      // try-*: if the unit stopped since check, nothing is queued. A plain restart of a unit ordered
      // after this one (networkd during the early phase) would wait for us forever.
      const verb = { start: 'start', stop: 'stop', restart: 'try-restart', reload: 'try-reload-or-restart' }[plan!.action];
      await ctx.exec('systemctl', [verb, '--', a.name]);
    }
    ctx.facts.invalidate(factKey(a.name));
  },
};
