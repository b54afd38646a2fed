import { z } from 'zod';
import { hostname as hostnameField } from '../../manifest/fields.js';
import { NOT_LIVE } from '../context.js';
import type { Module } from '../types.js';
import { combine } from './combine.js';
import { checkFile } from './file.js';

const args = z.strictObject({ name: hostnameField });
type Args = z.output<typeof args>;

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

export const hostnameModule: Module<Args> = {
  name: 'hostname',
  args,
  async check(a, ctx) {
    const files = [
      await checkFile(ctx, { dest: '/etc/hostname', content: `${a.name}\n` }),
      await checkFile(ctx, { dest: '/etc/hosts', content: hostsWith(await ctx.fs.readText('/etc/hosts'), a.name) }),
    ];
    if (!ctx.live) {
      const r = combine(files);
      if (r.status === 'change') return { ...r, reason: `${r.reason} (live hostname: ${NOT_LIVE})` };
      return r.status === 'ok' ? { status: 'ok', reason: `live hostname: ${NOT_LIVE}` } : r;
    }
    const now = await ctx.facts.hostname();
    if (now === a.name) return combine(files);
    return combine(files, {
      actions: [{ kind: 'run', argv: ['hostname', a.name] }],
      diff: [{ target: 'hostname (live)', before: now, after: a.name }],
      reasons: [`live hostname is ${now}`],
    });
  },
};
