import { promises as fsp } from 'node:fs';
import type { Context } from '../types.js';

/**
 * Facts about the running system, read from /proc and /sys (cheap, no processes), gathered lazily
 * and cached for the run through ctx.facts. Live facts describe the running kernel, so they are
 * only asked for when ctx.live; facts from files come from the managed root.
 */

const readTrim = (p: string) => fsp.readFile(p, 'utf8').then((s) => s.trim(), () => null);

/** The kernel's hostname now (not /etc/hostname). */
export function liveHostname(ctx: Context): Promise<string | null> {
  return ctx.facts.get('system:hostname', () => readTrim('/proc/sys/kernel/hostname'));
}

export interface NetInterface {
  name: string;
  mac: string | null;
  operstate: string | null;
}

/** Network interfaces of the running kernel with their MAC (to find a NIC by address). */
export function liveInterfaces(ctx: Context): Promise<NetInterface[]> {
  return ctx.facts.get('system:interfaces', async () => {
    const names = (await fsp.readdir('/sys/class/net').catch(() => [] as string[])).sort();
    return Promise.all(
      names.map(async (name) => ({
        name,
        mac: await readTrim(`/sys/class/net/${name}/address`),
        operstate: await readTrim(`/sys/class/net/${name}/operstate`),
      })),
    );
  });
}

/** /etc/os-release of the managed root (ID, VERSION_ID, VERSION_CODENAME…), unquoted. */
export function osRelease(ctx: Context): Promise<Record<string, string>> {
  return ctx.facts.get('system:os-release', async () => {
    const text = (await ctx.fs.readText('/etc/os-release')) ?? (await ctx.fs.readText('/usr/lib/os-release')) ?? '';
    const out: Record<string, string> = {};
    for (const line of text.split('\n')) {
      const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
      if (m) out[m[1]!] = m[2]!.replace(/^(["'])(.*)\1$/, '$2');
    }
    return out;
  });
}
