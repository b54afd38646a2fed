import { z } from 'zod';
import { hostname as hostnameField } from '../../manifest/fields.js';
import { NOT_LIVE } from '../context.js';
import { liveHostname } from '../facts/system.js';
import type { CheckResult, Context, Module } from '../types.js';
import { applyFile, checkFile, type FilePlan } from './file.js';

const args = z.strictObject({ name: hostnameField });
type Args = z.output<typeof args>;
interface Plan {
  files: FilePlan[];
  live: boolean;
}

const DEFAULT_HOSTS = '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n';

/**
 * Debian resolves its own name through the 127.0.1.1 line of /etc/hosts: exactly one such line,
 * naming this host; every other line is left as it is.
 */
export function hostsWith(current: string | null, name: string): string {
  const want = `127.0.1.1\t${name}`;
  const lines = (current ?? DEFAULT_HOSTS).split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const is011 = (l: string) => /^\s*127\.0\.1\.1\s/.test(l);
  const first = lines.findIndex(is011);
  let out: string[];
  if (first >= 0) {
    out = lines.filter((l, i) => !is011(l) || i === first).map((l) => (is011(l) ? want : l));
  } else {
    const lo = lines.findIndex((l) => /^\s*127\.0\.0\.1\s/.test(l));
    out = [...lines];
    out.splice(lo + 1, 0, want);
  }
  return `${out.join('\n')}\n`;
}

export const hostnameModule: Module<Args, Plan> = {
  name: 'hostname',
  args,
  async check(a, ctx) {
    const hostnameFile = await checkFile(ctx, { dest: '/etc/hostname', content: `${a.name}\n` });
    const hosts = await checkFile(ctx, { dest: '/etc/hosts', content: hostsWith(await ctx.fs.readText('/etc/hosts'), a.name) });
    const parts: CheckResult<FilePlan>[] = [hostnameFile, hosts].filter((c) => c.status === 'change');
    const diff = parts.flatMap((c) => c.diff ?? []);
    const reasons = parts.map((c) => c.reason!);
    let live = false;
    if (ctx.live) {
      const now = await liveHostname(ctx);
      if (now !== a.name) {
        live = true;
        diff.push({ target: 'hostname (live)', before: now, after: a.name });
        reasons.push(`live hostname is ${now}`);
      }
    }
    if (!live && parts.length === 0) return { status: 'ok', ...(ctx.live ? {} : { reason: `live hostname: ${NOT_LIVE}` }) };
    return {
      status: 'change',
      reason: reasons.join('; ') + (ctx.live ? '' : ` (live hostname: ${NOT_LIVE})`),
      diff,
      plan: { files: parts.map((c) => c.plan!), live },
    };
  },
  async apply(a, ctx, { plan }) {
    for (const f of plan!.files) await applyFile(ctx, f);
    if (plan!.live) {
      await ctx.exec('hostname', [a.name]);
      ctx.facts.invalidate('system:hostname');
    }
  },
};
