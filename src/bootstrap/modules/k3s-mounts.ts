import { z } from 'zod';
import { mountSchema } from '../../manifest/schema.js';
import type { Action, Module } from '../types.js';
import { combine } from './combine.js';
import { checkFile } from './file.js';
import { unitName } from './k3s.js';

/**
 * The Longhorn disk guard: a drop-in on the k3s unit with `RequiresMountsFor=` every data mount, so
 * k3s is never started with an empty mount point on the SD card (docs/mounts.md says why this way).
 */
export const DROPIN = 'metis-mounts.conf';
export const dropInPath = (role: 'agent' | 'server') => `/etc/systemd/system/${unitName(role)}.d/${DROPIN}`;

const args = z.strictObject({ role: z.enum(['agent', 'server']), mounts: z.array(mountSchema) });
type Args = z.output<typeof args>;

/**
 * One path as a word of a unit-file list: systemd splits RequiresMountsFor= on whitespace (quotes
 * and backslash escapes group a word) and expands %-specifiers, so "%" is doubled and a path with
 * whitespace, quotes or backslashes is double-quoted with `\` and `"` escaped.
 */
export function unitWord(path: string): string {
  const p = path.replace(/%/g, '%%');
  return /[\s"'\\]/.test(p) ? `"${p.replace(/[\\"]/g, (c) => `\\${c}`)}"` : p;
}

/** The mount unit systemd makes for a path: `systemd-escape --path --suffix=mount`. */
export function mountUnitName(path: string): string {
  const trimmed = path.replace(/\/+/g, '/').replace(/^\/|\/$/g, '');
  if (trimmed === '') return '-.mount';
  const esc = [...Buffer.from(trimmed, 'utf8')]
    .map((b, i) => {
      const c = String.fromCharCode(b);
      if (c === '/') return '-';
      if (/[A-Za-z0-9:_]/.test(c) || (c === '.' && i > 0)) return c;
      return `\\x${b.toString(16).padStart(2, '0')}`;
    })
    .join('');
  return `${esc}.mount`;
}

export function renderDropIn(paths: string[]): string {
  return `# Managed by metis-bootstrap: k3s starts only once every data disk is mounted (see docs/mounts.md).
# Waits for: ${paths.map(mountUnitName).join(' ')}
[Unit]
RequiresMountsFor=${paths.map(unitWord).join(' ')}
`;
}

export const k3sMountsModule: Module<Args> = {
  name: 'k3s_mounts',
  args,
  async check(a, ctx) {
    // A newline or other control character cannot be written into a unit file at all.
    const bad = a.mounts.find((m) => /[\0-\x1f\x7f]/.test(m.path));
    if (bad) return { status: 'fail', reason: `mount path ${JSON.stringify(bad.path)} has a control character: it cannot be named in a unit file` };
    const want = dropInPath(a.role);
    const other = dropInPath(a.role === 'agent' ? 'server' : 'agent');
    const parts = [];
    const extra: Action[] = [];
    const reasons: string[] = [];
    const diff = [];
    if (a.mounts.length) {
      const dir = want.slice(0, want.lastIndexOf('/'));
      if (!(await ctx.fs.stat(dir))?.isDirectory) extra.push({ kind: 'mkdir', path: dir, mode: 0o755 });
      parts.push(await checkFile(ctx, { dest: want, content: renderDropIn(a.mounts.map((m) => m.path)), mode: 0o644 }));
    } else if (await ctx.fs.exists(want)) {
      extra.push({ kind: 'remove', path: want });
      reasons.push(`remove ${want} (no data mounts)`);
      diff.push({ target: want, before: (await ctx.fs.readText(want)) ?? '', after: null });
    }
    // A role change leaves the other unit's guard behind: remove it.
    if (await ctx.fs.exists(other)) {
      extra.push({ kind: 'remove', path: other });
      reasons.push(`remove ${other} (role is ${a.role})`);
      diff.push({ target: other, before: (await ctx.fs.readText(other)) ?? '', after: null });
    }
    // mkdir first, then the write; removals after. Then one daemon-reload (live only, only if a unit file changed).
    const mkdirs = extra.filter((x) => x.kind === 'mkdir');
    const removes = extra.filter((x) => x.kind === 'remove');
    const planned = combine(parts, { actions: removes, diff, reasons });
    if (planned.status !== 'change') return planned;
    return { ...planned, actions: [...mkdirs, ...planned.actions, { kind: 'daemon-reload' }] };
  },
};
