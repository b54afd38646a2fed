import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import * as f from '../../manifest/fields.js';
import type { ApplyResult, Context, DiffEntry, Module } from '../types.js';
import { applyFile, checkFile, type FilePlan } from './file.js';

export const INITIATOR_FILE = '/etc/iscsi/initiatorname.iscsi';

const args = z.strictObject({
  /** From the manifest's identity: kept across reflash. Absent: generated once per node. */
  initiatorName: z.union([f.iqn, z.literal('')]).optional(),
  targets: z.array(z.strictObject({ portal: z.string(), iqn: f.iqn })).default([]),
});
type Args = z.output<typeof args>;

interface Plan {
  file?: FilePlan;
  generate: boolean;
  login: Array<{ portal: string; iqn: string }>;
}

/** The name in the file, or null when it is missing or still the image's `GenerateName=yes`. */
export function currentName(text: string | null): string | null {
  const m = /^InitiatorName=(\S+)\s*$/m.exec(text ?? '');
  return m && f.iqn.safeParse(m[1]).success ? m[1]! : null;
}

async function generateName(ctx: Context): Promise<string> {
  if (ctx.live) {
    const r = await ctx.exec('iscsi-iname', [], { allowFailure: true }).catch(() => null);
    if (r?.exitCode === 0 && f.iqn.safeParse(r.stdout.trim()).success) return r.stdout.trim();
  }
  return `iqn.1993-08.org.debian:01:${randomBytes(6).toString('hex')}`;
}

async function sessions(ctx: Context): Promise<string> {
  const r = await ctx.exec('iscsiadm', ['-m', 'session'], { allowFailure: true }).catch(() => null);
  return r?.stdout ?? '';
}

export const iscsiModule: Module<Args, Plan> = {
  name: 'iscsi',
  args,
  async check(a, ctx) {
    if (!(await ctx.fs.exists('/sbin/iscsiadm')) && !(await ctx.fs.exists('/usr/sbin/iscsiadm'))) {
      return { status: 'change', reason: 'will fail: open-iscsi is not installed in this image (iscsiadm missing)', plan: { generate: false, login: [] } };
    }
    const plan: Plan = { generate: false, login: [] };
    const diff: DiffEntry[] = [];
    const text = await ctx.fs.readText(INITIATOR_FILE);
    if (a.initiatorName) {
      const r = await checkFile(ctx, { dest: INITIATOR_FILE, content: `InitiatorName=${a.initiatorName}\n`, mode: 0o600 });
      if (r.status === 'change') {
        plan.file = r.plan;
        diff.push(...(r.diff ?? []));
      }
    } else if (!currentName(text)) {
      plan.generate = true;
      diff.push({ target: INITIATOR_FILE, before: text, after: 'InitiatorName=(generated once for this node)' });
    }
    if (ctx.live && a.targets.length) {
      const s = await sessions(ctx);
      plan.login = a.targets.filter((t) => !s.includes(t.iqn));
      for (const t of plan.login) diff.push({ target: `iSCSI session ${t.iqn}`, before: 'logged out', after: `logged in via ${t.portal}` });
    }
    if (!diff.length) return { status: 'ok' };
    return { status: 'change', reason: diff.map((d) => d.target).join(', '), diff, plan };
  },
  async apply(_a, ctx, { plan, reason }): Promise<ApplyResult> {
    const p = plan!;
    if (reason?.startsWith('will fail')) return { failed: reason.slice('will fail: '.length) };
    const facts: Record<string, unknown> = {};
    if (p.file) await applyFile(ctx, p.file);
    if (p.generate) {
      const name = await generateName(ctx);
      await ctx.fs.write(INITIATOR_FILE, `InitiatorName=${name}\n`, { mode: 0o600 });
      facts['generatedInitiatorName'] = name;
    }
    const failed: string[] = [];
    for (const t of p.login) {
      await ctx.exec('iscsiadm', ['-m', 'discovery', '-t', 'sendtargets', '-p', t.portal], { allowFailure: true, timeoutMs: 30_000 });
      const r = await ctx.exec('iscsiadm', ['-m', 'node', '-T', t.iqn, '-p', t.portal, '--login'], { allowFailure: true, timeoutMs: 30_000 });
      if (r.exitCode !== 0 && r.exitCode !== 15 /* already logged in */) failed.push(`${t.iqn} via ${t.portal}: ${r.stderr.trim().split('\n').at(-1)}`);
    }
    return failed.length ? { facts, failed: `iSCSI login failed: ${failed.join('; ')}` } : { facts };
  },
};
