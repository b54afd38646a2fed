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

/** Paths an Exec line carries as they are (no quoting, %-specifier or $-variable to escape). */
const PLAIN_PATH = /^\/[A-Za-z0-9/._-]*$/;

/**
 * The argv that proves the mounted disk is the expected Longhorn disk: longhorn-disk.cfg is the JSON
 * Longhorn writes at the disk's root ({"diskName":…,"diskUUID":…}); grep -F needs no shell.
 */
export function longhornCheckArgv(path: string, diskUuid: string): string[] {
  return ['/usr/bin/grep', '-qF', `"diskUUID":"${diskUuid}"`, `${path.replace(/\/+$/, '')}/longhorn-disk.cfg`];
}

export function renderDropIn(paths: string[], longhorn: Array<{ path: string; diskUuid: string }> = []): string {
  // Exec words: the quoted pattern keeps its inner quotes (systemd unquotes the outer ones only).
  const pre = longhorn.map(({ path, diskUuid }) => {
    const [cmd, flag, pattern, file] = longhornCheckArgv(path, diskUuid);
    return `ExecStartPre=${cmd} ${flag} '${pattern}' ${file}\n`;
  });
  return `# Managed by metis-bootstrap: k3s starts only once every data disk is mounted (see docs/mounts.md).
# Waits for: ${paths.map(mountUnitName).join(' ')}
[Unit]
RequiresMountsFor=${paths.map(unitWord).join(' ')}
${pre.length ? `\n# Each Longhorn disk must be the expected one (diskUUID in its longhorn-disk.cfg).\n[Service]\n${pre.join('')}` : ''}`;
}

export const k3sMountsModule: Module<Args> = {
  name: 'k3s_mounts',
  args,
  async check(a, ctx) {
    // A newline or other control character cannot be written into a unit file at all.
    const bad = a.mounts.find((m) => /[\0-\x1f\x7f]/.test(m.path));
    if (bad) return { status: 'fail', reason: `mount path ${JSON.stringify(bad.path)} has a control character: it cannot be named in a unit file` };
    const odd = a.mounts.find((m) => m.longhornDiskUuid && !PLAIN_PATH.test(m.path));
    if (odd) return { status: 'fail', reason: `Longhorn disk path ${JSON.stringify(odd.path)}: only letters, digits, / . _ - are allowed where the disk check runs as a command` };
    const want = dropInPath(a.role);
    const other = dropInPath(a.role === 'agent' ? 'server' : 'agent');
    const parts = [];
    const extra: Action[] = [];
    const reasons: string[] = [];
    const diff = [];
    if (a.mounts.length) {
      const dir = want.slice(0, want.lastIndexOf('/'));
      if (!(await ctx.fs.stat(dir))?.isDirectory) extra.push({ kind: 'mkdir', path: dir, mode: 0o755 });
      parts.push(await checkFile(ctx, { dest: want, content: renderDropIn(a.mounts.map((m) => m.path), a.mounts.flatMap((m) => (m.longhornDiskUuid ? [{ path: m.path, diskUuid: m.longhornDiskUuid }] : []))), mode: 0o644 }));
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
    // mkdir first, then the write; removals after. systemd re-reads the drop-in at the run's next
    // reload: before the k3s join's start, or at the end of the tasks (engine/execute.ts settleActions).
    const mkdirs = extra.filter((x) => x.kind === 'mkdir');
    const removes = extra.filter((x) => x.kind === 'remove');
    const planned = combine(parts, { actions: removes, diff, reasons });
    if (planned.status !== 'change') return planned;
    return { ...planned, actions: [...mkdirs, ...planned.actions] };
  },
};
