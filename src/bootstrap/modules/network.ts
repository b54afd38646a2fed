import { z } from 'zod';
import { networkSchema, type NetworkConfig } from '../../manifest/schema.js';
import type { NetworkBackend } from '../facts/network.js';
import type { Action, ApplyResult, Context, DiffEntry, Module } from '../types.js';
import { checkFile } from './file.js';
import { renderNetwork } from './network-render.js';

const args = z.strictObject({
  config: networkSchema,
  /** Extra hosts that must answer after a live change (the k3s server), besides the gateway. */
  probe: z.array(z.string()).default([]),
  probeTimeoutSec: z.number().int().min(1).max(300).default(30),
});
type Args = z.output<typeof args>;

const DISABLED = '.metis-disabled';

interface Plan {
  backend: NetworkBackend;
  /** Files the plan writes, with what they held before (for the rollback). */
  files: string[];
  /** Files the image ships that configure the same NIC another way (DHCP): renamed away. */
  conflicts: string[];
}

function matchesIface(text: string, n: NetworkConfig): boolean {
  const names = [...text.matchAll(/^\s*Name\s*=\s*(.+)$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/));
  const globMatch = (g: string) => new RegExp(`^${g.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(n.interface);
  return (
    names.some(globMatch) ||
    new RegExp(`^\\s*interface-name\\s*=\\s*${n.interface}\\s*$`, 'm').test(text) ||
    new RegExp(`^\\s+${n.interface}:\\s*$`, 'm').test(text) ||
    (n.mac !== undefined && text.toLowerCase().includes(n.mac.toLowerCase()))
  );
}

async function findConflicts(ctx: Context, n: NetworkConfig, ours: string[]): Promise<string[]> {
  const dirs: Array<[string, (f: string) => boolean]> = [
    ['/etc/systemd/network', (f) => f.endsWith('.network')],
    ['/etc/netplan', (f) => f.endsWith('.yaml')],
    ['/etc/NetworkManager/system-connections', (f) => f.endsWith('.nmconnection')],
  ];
  const out: string[] = [];
  for (const [dir, want] of dirs) {
    for (const f of (await ctx.fs.readdir(dir)).filter(want)) {
      const p = `${dir}/${f}`;
      if (ours.includes(p)) continue;
      if (matchesIface((await ctx.fs.readText(p)) ?? '', n)) out.push(p);
    }
  }
  return out;
}

/** Is `host` answering? ping, bounded: one try a second until the deadline. */
export async function reachable(ctx: Context, host: string, timeoutSec: number): Promise<boolean> {
  const deadline = Date.now() + timeoutSec * 1000;
  for (let i = 0; i < timeoutSec + 1 && Date.now() < deadline; i++) {
    const r = await ctx.exec('ping', ['-c', '1', '-W', '1', host], { allowFailure: true, timeoutMs: 3000 }).catch(() => null);
    if (r?.exitCode === 0) return true;
    await new Promise((res) => setTimeout(res, 200));
  }
  return false;
}

async function reload(ctx: Context, r: NetworkBackend, n: NetworkConfig): Promise<void> {
  if (r === 'networkd') {
    await ctx.exec('networkctl', ['reload']);
    await ctx.exec('networkctl', ['reconfigure', n.interface], { allowFailure: true });
  } else if (r === 'networkmanager') {
    await ctx.exec('nmcli', ['connection', 'reload']);
    await ctx.exec('nmcli', ['connection', 'up', `metis-${n.interface}`], { allowFailure: true });
  } else await ctx.exec('netplan', ['apply']);
}

async function networkUp(ctx: Context, r: NetworkBackend): Promise<boolean> {
  const unit = r === 'networkmanager' ? 'NetworkManager.service' : 'systemd-networkd.service';
  const s = await ctx.exec('systemctl', ['is-active', unit], { allowFailure: true }).catch(() => null);
  return s?.stdout.trim() === 'active';
}

/** The live steps, apart so a test can drive them in a network namespace it owns. */
export interface LiveHooks {
  activate(): Promise<void>;
  reachable(host: string): Promise<boolean>;
}

/**
 * Activates the files just written and probes the gateway (and `probe` hosts); when one stays
 * silent, the previous files and disabled configs are put back and activated again. Returns the
 * failure reason, or undefined when every target answered.
 */
export async function activateOrRollback(
  ctx: Context,
  a: Args,
  previous: Array<{ dest: string; text: string | null; mode: number | undefined }>,
  conflicts: string[],
  hooks: LiveHooks,
  rename: (from: string, to: string) => Promise<void>,
): Promise<string | undefined> {
  await hooks.activate();
  const targets = [...(a.config.ipv4.gateway ? [a.config.ipv4.gateway] : []), ...a.probe];
  const unreachable: string[] = [];
  for (const t of targets) if (!(await hooks.reachable(t))) unreachable.push(t);
  if (!unreachable.length) return undefined;
  // A node nobody can reach is worse than a stale address: put the old config back.
  for (const prev of previous) {
    if (prev.text === null) await ctx.fs.remove(prev.dest);
    else await ctx.fs.write(prev.dest, prev.text, { mode: prev.mode ?? 0o644 });
  }
  for (const c of conflicts) await rename(`${c}${DISABLED}`, c);
  await hooks.activate().catch(() => {});
  return `${unreachable.join(', ')} unreachable within ${a.probeTimeoutSec}s after applying the new network config: previous network config restored`;
}

export const networkModule: Module<Args, Plan> = {
  name: 'network',
  args,
  async check(a, ctx) {
    const backend = a.config.renderer === 'auto' ? await ctx.facts.networkBackend() : a.config.renderer;
    const wanted = renderNetwork(backend, a.config);
    const actions: Action[] = [];
    const diff: DiffEntry[] = [];
    const files: string[] = [];
    for (const f of wanted) {
      const r = await checkFile(ctx, f);
      if (r.status === 'change') {
        files.push(f.dest);
        actions.push(...r.actions);
        diff.push(...(r.diff ?? []));
      }
    }
    const conflicts = await findConflicts(ctx, a.config, wanted.map((w) => w.dest));
    for (const c of conflicts) {
      actions.push({ kind: 'rename', from: c, to: `${c}${DISABLED}` });
      diff.push({ target: c, before: 'active (configures the same NIC)', after: `disabled: renamed to ${c}${DISABLED}` });
    }
    if (!diff.length) return { status: 'ok' };
    return { status: 'change', reason: `${backend}: ${diff.map((d) => d.target).join(', ')}`, diff, actions, data: { backend, files, conflicts } };
  },
  /** Imperative: the files and renames, then (live) activate, probe, and roll back when the node went deaf. */
  async apply(a, ctx, plan): Promise<ApplyResult> {
    const p = plan.data!;
    const previous = await Promise.all(p.files.map(async (dest) => ({ dest, text: await ctx.fs.readText(dest), mode: (await ctx.fs.stat(dest))?.mode })));
    await ctx.execute(plan.actions);
    const facts = { backend: p.backend, disabled: p.conflicts };
    if (!ctx.live) return { facts };
    // First boot: the early unit runs before the network starts, which then starts with our config.
    if (!(await networkUp(ctx, p.backend))) return { facts: { ...facts, reload: 'network not started yet: takes effect when it starts' } };
    const hooks: LiveHooks = { activate: () => reload(ctx, p.backend, a.config), reachable: (h) => reachable(ctx, h, a.probeTimeoutSec) };
    const failed = await activateOrRollback(ctx, a, previous, p.conflicts, hooks, (from, to) => ctx.fs.rename(from, to));
    return failed ? { facts, failed } : { facts };
  },
};
