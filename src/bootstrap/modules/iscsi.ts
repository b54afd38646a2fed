import { z } from 'zod';
import * as f from '../../manifest/fields.js';
import type { Action, CheckResult, DiffEntry, Module } from '../types.js';
import { combine } from './combine.js';
import { checkFile } from './file.js';

export const INITIATOR_FILE = '/etc/iscsi/initiatorname.iscsi';

const args = z.strictObject({
  /** From the manifest's identity: kept across reflash. Absent: generated once per node. */
  initiatorName: z.union([f.iqn, z.literal('')]).optional(),
  targets: z.array(z.strictObject({ portal: z.string(), iqn: f.iqn })).default([]),
});
type Args = z.output<typeof args>;

/** The name in the file, or null when it is missing or still the image's `GenerateName=yes`. */
export function currentName(text: string | null): string | null {
  const m = /^InitiatorName=(\S+)\s*$/m.exec(text ?? '');
  return m && f.iqn.safeParse(m[1]).success ? m[1]! : null;
}

export const iscsiModule: Module<Args> = {
  name: 'iscsi',
  args,
  async check(a, ctx) {
    if (!(await ctx.fs.exists('/sbin/iscsiadm')) && !(await ctx.fs.exists('/usr/sbin/iscsiadm'))) {
      return { status: 'fail', reason: 'open-iscsi is not installed in this image (iscsiadm missing)' };
    }
    const parts: CheckResult[] = [];
    const actions: Action[] = [];
    const diff: DiffEntry[] = [];
    const text = await ctx.fs.readText(INITIATOR_FILE);
    if (a.initiatorName) {
      parts.push(await checkFile(ctx, { dest: INITIATOR_FILE, content: `InitiatorName=${a.initiatorName}\n`, mode: 0o600 }));
    } else if (!currentName(text)) {
      actions.push({ kind: 'write', path: INITIATOR_FILE, content: { generate: 'iscsi-initiator' }, mode: 0o600, fact: 'initiatorName' });
      diff.push({ target: INITIATOR_FILE, before: text, after: 'InitiatorName=(generated once for this node)' });
    }
    if (ctx.live && a.targets.length) {
      const s = new Set(await ctx.facts.iscsiSessions());
      for (const t of a.targets.filter((x) => !s.has(x.iqn))) {
        actions.push(
          { kind: 'run', argv: ['iscsiadm', '-m', 'discovery', '-t', 'sendtargets', '-p', t.portal], timeoutMs: 30_000, okCodes: 'any' },
          // 15: already logged in (a session that appeared since check).
          { kind: 'run', argv: ['iscsiadm', '-m', 'node', '-T', t.iqn, '-p', t.portal, '--login'], timeoutMs: 30_000, okCodes: [0, 15] },
        );
        diff.push({ target: `iSCSI session ${t.iqn}`, before: 'logged out', after: `logged in via ${t.portal}` });
      }
    }
    return combine(parts, { actions, diff, reasons: diff.length ? [diff.map((d) => d.target).join(', ')] : [] });
  },
};
