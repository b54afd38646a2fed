import { z } from 'zod';
import { NOT_LIVE } from '../context.js';
import type { Action, DiffEntry, Module } from '../types.js';
import { upOrComingUp } from '../facts/systemd.js';

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
    /**
     * Ansible's `no_block`, for `started`: the start is queued and the next tasks run while the
     * unit comes up; the run waits for it before the handlers, and a unit that did not come up
     * fails this task. For a unit that later tasks do not need.
     */
    noBlock: z.boolean().optional(),
  })
  .refine((a) => a.enabled !== undefined || a.state !== undefined, 'give enabled and/or state')
  .refine((a) => !a.noBlock || a.state === 'started', { message: 'noBlock goes with state: started', path: ['noBlock'] });
type Args = z.output<typeof args>;

interface Plan {
  enable?: boolean;
  action?: 'start' | 'stop' | 'restart' | 'reload';
}

/** ActiveStates in which a restart/reload has something to act on. */
const RUNNING = new Set(['active', 'reloading', 'activating']);
const ENABLED_OK = new Set(['enabled', 'static', 'alias', 'indirect', 'generated', 'enabled-runtime']);
const DISABLED_OK = new Set(['disabled', 'static', 'masked', 'not-found', '']);

export const serviceModule: Module<Args> = {
  name: 'service',
  args,
  async prepare(all, ctx) {
    await ctx.facts.loadUnits(all.map((a) => a.name));
  },
  async check(a, ctx) {
    const s = await ctx.facts.unit(a.name);
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
    // At boot the converge runs beside systemd's own start jobs: a unit systemd is already bringing
    // up (activating, or its start job queued behind its ordering) needs nothing from us.
    else if (a.state === 'started' && !upOrComingUp(s)) plan.action = 'start';
    else if (a.state === 'stopped' && s.activeState !== 'inactive' && s.activeState !== 'failed') plan.action = 'stop';
    else if ((a.state === 'restarted' || a.state === 'reloaded') && !RUNNING.has(s.activeState ?? '')) notRunning = true;
    else if (a.state === 'restarted') plan.action = 'restart';
    else if (a.state === 'reloaded') plan.action = 'reload';
    if (plan.action) {
      diff.push({ target: `unit ${a.name} state`, before: s.activeState, after: plan.action });
      reasons.push(`${plan.action} ${a.name}`);
    }
    const liveNote = notLive ? `state ${a.state}: ${NOT_LIVE}` : undefined;
    if (diff.length) return { status: 'change', reason: [...reasons, ...(liveNote ? [liveNote] : [])].join('; '), diff, actions: actionsFor(a.name, plan, a.noBlock === true) };
    if (notLive && (a.state === 'restarted' || a.state === 'reloaded') && a.enabled === undefined) return { status: 'skip', reason: liveNote! };
    if (notRunning) return { status: 'ok', reason: `${a.name} is ${s.activeState}: nothing to ${a.state === 'restarted' ? 'restart' : 'reload'}` };
    return { status: 'ok', ...(liveNote ? { reason: liveNote } : {}) };
  },
};

/**
 * systemctl verbs for the plan. try-*: if the unit stopped since check, nothing is queued; a plain
 * restart of a unit ordered after this one (networkd during the early phase) would wait for us
 * forever. daemon-reload comes first, and runs only when a unit file changed in this run.
 */
function actionsFor(unit: string, plan: Plan, noBlock: boolean): Action[] {
  const out: Action[] = [];
  if (plan.enable !== undefined) out.push({ kind: 'systemctl', verb: plan.enable ? 'enable' : 'disable', unit });
  if (plan.action) {
    const verb = ({ start: 'start', stop: 'stop', restart: 'try-restart', reload: 'try-reload-or-restart' } as const)[plan.action];
    out.push({ kind: 'daemon-reload' }, { kind: 'systemctl', verb, unit, ...(noBlock && verb === 'start' ? { noBlock } : {}) });
  }
  return out;
}
