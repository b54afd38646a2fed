import { z } from 'zod';
import { errorMessage } from '../../lib/errors.js';
import { k3sFields } from '../../manifest/schema.js';
import type { Action, ApplyResult, Module } from '../types.js';
import { joinPreflight } from './k3s-preflight.js';
import { unitName } from './k3s.js';
import { upOrComingUp } from '../facts/systemd.js';

const args = k3sFields.pick({ role: true, serverUrl: true, token: true }).extend({
  preflightTimeoutSec: z.number().int().min(1).max(600).default(60),
});
type Args = z.output<typeof args>;

const ENABLED = new Set(['enabled', 'enabled-runtime', 'static', 'alias', 'indirect', 'generated']);

/**
 * Joins the cluster: enabled, and (live) started after the preflight proved the server is there
 * and the token belongs to it. Restarts on config changes are the `restart k3s` handler's.
 */
export const k3sJoinModule: Module<Args> = {
  name: 'k3s_join',
  args,
  async prepare(all, ctx) {
    // With the services' units, in the plan's one `systemctl show`.
    await ctx.facts.loadUnits(all.map((a) => unitName(a.role))).catch(() => {});
  },
  async check(a, ctx) {
    const unit = unitName(a.role);
    let s;
    try {
      s = await ctx.facts.unit(unit);
    } catch (e) {
      return { status: 'skip', reason: `systemctl not available for this root: ${errorMessage(e)}` };
    }
    const enabled = ENABLED.has(s.fileState);
    // At boot systemd starts the enabled unit itself (after the data mounts, see k3s_mounts): a unit
    // activating or with its start job queued is joining already, not drift.
    if (enabled && (!ctx.live || s.activeState === 'active')) return { status: 'ok' };
    if (enabled && upOrComingUp(s)) return { status: 'ok', reason: `${unit} is starting (systemd ${s.activeState === 'activating' ? 'is activating it' : 'has its start job queued'})` };
    // Live: enable (no reload of its own), then the one reload the unit files written by the tasks
    // before need anyway (it takes the enablements along), then start.
    const enable: Action[] = enabled ? [] : [{ kind: 'systemctl', verb: 'enable', unit }];
    const actions: Action[] = ctx.live ? [...enable, { kind: 'daemon-reload' }, { kind: 'systemctl', verb: 'start', unit }] : enable;
    return {
      status: 'change',
      reason: ctx.live ? `join: preflight, then enable and start ${unit}` : `enable ${unit} (start skipped: not live)`,
      diff: [{ target: unit, before: `${s.fileState}${s.activeState === null ? '' : `, ${s.activeState}`}`, after: ctx.live ? 'enabled, active' : 'enabled' }],
      actions,
    };
  },
  async apply(a, ctx, plan): Promise<ApplyResult> {
    const facts: ApplyResult['facts'] = {};
    if (ctx.live && a.serverUrl) {
      try {
        facts.serverCaSha256 = (await joinPreflight(a.serverUrl, a.token, { timeoutMs: a.preflightTimeoutSec * 1000 })).caSha256;
      } catch (e) {
        return { failed: errorMessage(e) };
      }
    }
    await ctx.execute(plan.actions);
    return { facts: { ...facts, unit: unitName(a.role), started: ctx.live } };
  },
};
