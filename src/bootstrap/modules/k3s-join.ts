import { z } from 'zod';
import type { ApplyResult, Context, Module } from '../types.js';
import { joinPreflight } from './k3s-preflight.js';
import { unitName } from './k3s.js';

const args = z.strictObject({
  role: z.enum(['agent', 'server']),
  serverUrl: z.string().optional(),
  token: z.string().min(1),
  preflightTimeoutSec: z.number().int().min(1).max(600).default(60),
});
type Args = z.output<typeof args>;

interface State {
  enabled: boolean;
  active: boolean | null;
}

async function state(ctx: Context, unit: string): Promise<State | null> {
  const rootArgs = ctx.live ? [] : [`--root=${ctx.root}`];
  const en = await ctx.exec('systemctl', [...rootArgs, 'is-enabled', unit], { allowFailure: true }).catch(() => null);
  if (!en) return null;
  const active = ctx.live ? (await ctx.exec('systemctl', ['is-active', unit], { allowFailure: true })).stdout.trim() === 'active' : null;
  return { enabled: en.stdout.trim() === 'enabled', active };
}

/**
 * Joins the cluster: enabled, and (live) started after the preflight proved the server is there
 * and the token belongs to it. Restarts on config changes are the `restart k3s` handler's.
 */
export const k3sJoinModule: Module<Args, State> = {
  name: 'k3s_join',
  args,
  async check(a, ctx) {
    const unit = unitName(a.role);
    const s = await state(ctx, unit);
    if (!s) return { status: 'skip', reason: 'systemctl not available for this root' };
    const want = ctx.live ? s.enabled && s.active === true : s.enabled;
    if (want) return { status: 'ok' };
    return {
      status: 'change',
      reason: ctx.live ? `join: preflight, then enable and start ${unit}` : `enable ${unit} (start skipped: not live)`,
      diff: [{ target: unit, before: `${s.enabled ? 'enabled' : 'disabled'}${s.active === null ? '' : s.active ? ', active' : ', inactive'}`, after: ctx.live ? 'enabled, active' : 'enabled' }],
      plan: s,
    };
  },
  async apply(a, ctx): Promise<ApplyResult | void> {
    const unit = unitName(a.role);
    if (!ctx.live) {
      await ctx.exec('systemctl', [`--root=${ctx.root}`, 'enable', unit]);
      return;
    }
    if (a.serverUrl) {
      try {
        const r = await joinPreflight(a.serverUrl, a.token, { timeoutMs: a.preflightTimeoutSec * 1000 });
        ctx.log.info({ kind: 'preflight', serverUrl: a.serverUrl, caSha256: r.caSha256 }, 'k3s join preflight ok');
      } catch (e) {
        return { failed: e instanceof Error ? e.message : String(e) };
      }
    }
    await ctx.exec('systemctl', ['daemon-reload']);
    await ctx.exec('systemctl', ['enable', '--now', unit]);
    return { facts: { unit, started: true } };
  },
};
