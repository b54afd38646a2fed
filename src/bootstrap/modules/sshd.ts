import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { z } from 'zod';
import { sshSchema } from '../../manifest/schema.js';
import type { CheckResult, Context, Module } from '../types.js';
import { checkFile } from './file.js';
import { HEADER } from './journald.js';

export const SSHD_DROPIN = '/etc/ssh/sshd_config.d/60-metis.conf';
const SSHD = '/usr/sbin/sshd';
const PRIVSEP_DIR = '/run/sshd';

/** The manifest's own ssh fields: one source of truth for their types and defaults. */
const args = sshSchema.pick({ port: true, passwordAuthentication: true, permitRootLogin: true });
type Args = z.output<typeof args>;

export function sshdDropIn(a: Args): string {
  const yn = (b: boolean) => (b ? 'yes' : 'no');
  return `${HEADER}Port ${a.port}\nPasswordAuthentication ${yn(a.passwordAuthentication)}\nKbdInteractiveAuthentication ${yn(a.passwordAuthentication)}\nPermitRootLogin ${a.permitRootLogin}\n`;
}

/**
 * The whole configuration sshd would read with the candidate in place: the candidate first
 * (sshd keeps the first value it sees, as Debian's Include at the top of sshd_config relies on),
 * then the other drop-ins, then sshd_config without its Include lines.
 */
async function candidateConfig(ctx: Context, candidate: string): Promise<string> {
  const dir = '/etc/ssh/sshd_config.d';
  const others = (await ctx.fs.readdir(dir)).filter((f) => f.endsWith('.conf') && `${dir}/${f}` !== SSHD_DROPIN);
  const parts = [candidate];
  for (const f of others) parts.push((await ctx.fs.readText(`${dir}/${f}`)) ?? '');
  const main = (await ctx.fs.readText('/etc/ssh/sshd_config')) ?? '';
  parts.push(main.split('\n').filter((l) => !/^\s*Include\s/i.test(l)).join('\n'));
  return parts.join('\n');
}

/**
 * `sshd -t` on the full candidate config, with the managed system's own sshd, users and host keys:
 * run directly on a live node, through chroot under --root (so paths in the config resolve inside
 * the root). A throwaway host key is added only when the root has none yet (first boot).
 */
export async function validateSshd(ctx: Context, tmpDropIn: string): Promise<void> {
  const work = `/run/metis-sshd-${randomBytes(4).toString('hex')}`;
  // sshd -t refuses to run without its privilege-separation dir, which exists only while ssh.service
  // runs (RuntimeDirectory): on a first boot it is absent. Made for the test; removed after only in a
  // sysroot (live, ssh.service may start meanwhile and need it; /run is a tmpfs anyway).
  const privsep = (await ctx.fs.exists(PRIVSEP_DIR)) ? null : PRIVSEP_DIR;
  if (privsep) await ctx.fs.mkdir(privsep, 0o755);
  await ctx.fs.mkdir(work, 0o700);
  try {
    const cfg = `${work}/sshd_config`;
    await fsp.writeFile(ctx.fs.abs(cfg), await candidateConfig(ctx, await fsp.readFile(tmpDropIn, 'utf8')), { mode: 0o600 });
    const argv = [SSHD, '-t', '-f', cfg];
    const keys = (await ctx.fs.readdir('/etc/ssh')).filter((f) => /^ssh_host_.*_key$/.test(f));
    if (keys.length === 0) {
      await ctx.exec('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'metis-validate', '-f', ctx.fs.abs(`${work}/hostkey`)]);
      argv.push('-h', `${work}/hostkey`);
    }
    if (ctx.live) await ctx.exec(argv[0]!, argv.slice(1));
    else await ctx.exec('chroot', [ctx.root, ...argv]);
  } finally {
    await ctx.fs.remove(work);
    if (privsep && !ctx.live) await ctx.fs.remove(privsep);
  }
}

/**
 * Port, password login and root login as a drop-in. A candidate that `sshd -t` rejects never
 * lands, so a bad value cannot lock the operator out; sshd is reloaded by the handler.
 */
export const sshdModule: Module<Args> = {
  name: 'sshd',
  args,
  async check(a, ctx): Promise<CheckResult> {
    const validate = await ctx.fs.exists(SSHD);
    const c = await checkFile(ctx, { dest: SSHD_DROPIN, content: sshdDropIn(a), mode: 0o644, ...(validate ? { validate: { sshd: true } } : {}) });
    if (c.status !== 'change' || validate) return c;
    return { ...c, reason: `${c.reason} (sshd not installed under ${ctx.root}: not validated)` };
  },
};
