import { z } from 'zod';
import { networkSchema, type NetworkConfig } from '../../manifest/schema.js';
import type { ApplyResult, Context, DiffEntry, Module } from '../types.js';
import { applyFile, checkFile, type FilePlan } from './file.js';
import { renderNetwork, type Renderer } from './network-render.js';

const args = z.strictObject({
  config: networkSchema,
  /** Extra hosts that must answer after a live change (the k3s server), besides the gateway. */
  probe: z.array(z.string()).default([]),
  probeTimeoutSec: z.number().int().min(1).max(300).default(30),
});
type Args = z.output<typeof args>;

const DISABLED = '.metis-disabled';

interface Plan {
  renderer: Renderer;
  files: FilePlan[];
  /** Files the image ships that configure the same NIC another way (DHCP): renamed away. */
  conflicts: string[];
}

/** `auto`: netplan when the root has netplan config, NetworkManager when installed, else networkd. */
export async function detectRenderer(ctx: Context): Promise<Renderer> {
  return ctx.facts.get('network.renderer', async () => {
    const netplan = (await ctx.fs.readdir('/etc/netplan')).some((f) => f.endsWith('.yaml')) && (await ctx.fs.exists('/usr/sbin/netplan'));
    if (netplan) return 'netplan';
    if ((await ctx.fs.exists('/usr/sbin/NetworkManager')) && (await ctx.fs.exists('/etc/NetworkManager'))) return 'networkmanager';
    return 'networkd';
  });
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

async function reload(ctx: Context, r: Renderer, n: NetworkConfig): Promise<void> {
  if (r === 'networkd') {
    await ctx.exec('networkctl', ['reload']);
    await ctx.exec('networkctl', ['reconfigure', n.interface], { allowFailure: true });
  } else if (r === 'networkmanager') {
    await ctx.exec('nmcli', ['connection', 'reload']);
    await ctx.exec('nmcli', ['connection', 'up', `metis-${n.interface}`], { allowFailure: true });
  } else await ctx.exec('netplan', ['apply']);
}

async function networkUp(ctx: Context, r: Renderer): Promise<boolean> {
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
    const renderer = a.config.renderer === 'auto' ? await detectRenderer(ctx) : a.config.renderer;
    const wanted = renderNetwork(renderer, a.config);
    const plan: Plan = { renderer, files: [], conflicts: [] };
    const diff: DiffEntry[] = [];
    for (const f of wanted) {
      const r = await checkFile(ctx, f);
      if (r.status === 'change') {
        plan.files.push(r.plan!);
        diff.push(...(r.diff ?? []));
      }
    }
    plan.conflicts = await findConflicts(ctx, a.config, wanted.map((w) => w.dest));
    for (const c of plan.conflicts) diff.push({ target: c, before: 'active (configures the same NIC)', after: `disabled: renamed to ${c}${DISABLED}` });
    if (!diff.length) return { status: 'ok' };
    return { status: 'change', reason: `${renderer}: ${diff.map((d) => d.target).join(', ')}`, diff, plan };
  },
  async apply(a, ctx, { plan }): Promise<ApplyResult> {
    const p = plan!;
    const previous = await Promise.all(p.files.map(async (f) => ({ dest: f.dest, text: await ctx.fs.readText(f.dest), mode: (await ctx.fs.stat(f.dest))?.mode })));
    const rename = (from: string, to: string) => ctx.fs.rename(from, to);
    for (const f of p.files) await applyFile(ctx, f);
    for (const c of p.conflicts) await rename(c, `${c}${DISABLED}`);
    const facts = { renderer: p.renderer, disabled: p.conflicts };
    if (!ctx.live) return { facts };
    // First boot: the early unit runs before the network starts, which then starts with our config.
    if (!(await networkUp(ctx, p.renderer))) return { facts: { ...facts, reload: 'network not started yet: takes effect when it starts' } };
    const hooks: LiveHooks = { activate: () => reload(ctx, p.renderer, a.config), reachable: (h) => reachable(ctx, h, a.probeTimeoutSec) };
    const failed = await activateOrRollback(ctx, a, previous, p.conflicts, hooks, rename);
    return failed ? { facts, failed } : { facts };
  },
};
