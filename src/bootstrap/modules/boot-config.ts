import { bootSchema, removes, type BootConfig } from '../../manifest/boot.js';
import type { Action, CheckResult, Context, DiffEntry, Module } from '../types.js';

/**
 * The Pi's boot partition (docs/pi-boot.md): Metis' lines in config.txt live in one marked block at
 * the end (every other line and comment is kept as it is), and cmdline.txt's words are added or
 * removed on its one line. Both are written by the one atomic write (temp, fsync, rename, fsync
 * dir), which a FAT partition supports; a change needs a reboot, and the report says so.
 */
export const BEGIN = '# >>> metis: managed lines, do not edit (docs/pi-boot.md)';
export const END = '# <<< metis';

type Args = BootConfig;

/** The managed block for the wanted sections, or '' when there is nothing to manage. */
export function renderBlock(config: BootConfig['config'], eol = '\n'): string {
  const sections = Object.entries(config).filter(([, lines]) => lines.length > 0);
  if (sections.length === 0) return '';
  // [all] first: it resets any filter an earlier line left open; the block ends back in [all] too.
  sections.sort(([a], [b]) => (a === 'all' ? -1 : b === 'all' ? 1 : 0));
  const out = [BEGIN, ...(sections[0]![0] === 'all' ? [] : ['[all]'])];
  for (const [section, lines] of sections) out.push(`[${section}]`, ...lines);
  if (sections.at(-1)![0] !== 'all') out.push('[all]');
  out.push(END);
  return out.join(eol) + eol;
}

/** config.txt with the block replaced; null and a reason when the file's own markers are broken. */
export function editConfig(text: string, config: BootConfig['config']): { text: string } | { error: string } {
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const lines = text.split(/\r?\n/);
  const begin = lines.indexOf(BEGIN);
  const end = lines.indexOf(END);
  if ((begin < 0) !== (end < 0) || end < begin) return { error: `its Metis block is broken (markers "${BEGIN}" … "${END}"): repair it by hand` };
  if (lines.indexOf(BEGIN, begin + 1) >= 0) return { error: 'it has two Metis blocks: remove one by hand' };
  const kept = begin < 0 ? lines : [...lines.slice(0, begin), ...lines.slice(end + 1)];
  let base = kept.join(eol);
  if (base !== '' && !base.endsWith(eol)) base += eol;
  return { text: base + renderBlock(config, eol) };
}

/** cmdline.txt with words removed and added; its one line keeps its order and trailing newline. */
export function editCmdline(text: string, cmd: BootConfig['cmdline']): { text: string; words: string[] } | { error: string } {
  const body = text.replace(/\r?\n$/, '');
  if (/[\r\n]/.test(body)) return { error: 'it has more than one line: the firmware reads one' };
  const words = body.split(/\s+/).filter(Boolean);
  const next = words.filter((w) => !cmd.remove.some((r) => removes(r, w)));
  for (const w of cmd.add) if (!next.includes(w)) next.push(w);
  return { text: `${next.join(' ')}${text.endsWith('\n') || text === '' ? '\n' : ''}`, words: next };
}

export const bootConfigModule: Module<Args> = {
  name: 'boot_config',
  args: bootSchema,
  async check(a, ctx): Promise<CheckResult> {
    const dir = a.path.replace(/\/+$/, '');
    if (!(await ctx.fs.stat(dir))?.isDirectory) return { status: 'fail', reason: `no boot partition at ${dir} (is it mounted?)` };
    const actions: Action[] = [];
    const diff: DiffEntry[] = [];
    const reasons: string[] = [];
    const want = async (file: string, edit: (text: string) => { text: string } | { error: string }, required: boolean): Promise<string | undefined> => {
      const path = `${dir}/${file}`;
      const st = await ctx.fs.stat(path);
      if (!st && required) return `no ${path}`;
      const current = st ? ((await ctx.fs.readText(path)) ?? '') : '';
      const r = edit(current);
      if ('error' in r) return `${path}: ${r.error}`;
      if (r.text === current) return undefined;
      // FAT has no owners and no permission bits to set: keep what the mount shows, so nothing but content differs.
      actions.push({ kind: 'write', path, content: r.text, mode: st?.mode ?? 0o755 });
      diff.push({ target: path, before: st ? current : null, after: r.text });
      reasons.push(`${path} differs`);
      return undefined;
    };
    const configFail = await want('config.txt', (t) => editConfig(t, a.config), false);
    if (configFail) return { status: 'fail', reason: configFail };
    if (a.cmdline.add.length || a.cmdline.remove.length) {
      const cmdFail = await want('cmdline.txt', (t) => editCmdline(t, a.cmdline), true);
      if (cmdFail) return { status: 'fail', reason: cmdFail };
    }
    if (!actions.length) return { status: 'ok' };
    return { status: 'change', reason: `${reasons.join('; ')} (reboot required)`, diff, actions };
  },
  async apply(_a, ctx, plan) {
    await ctx.execute(plan.actions);
    return { facts: { rebootRequired: plan.actions.flatMap((x) => (x.kind === 'write' ? [x.path] : [])) } };
  },
};
