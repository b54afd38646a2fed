import { posix } from 'node:path';
import { z } from 'zod';
import { MetisError } from '../../lib/errors.js';
import { sshPublicKey, unixUser } from '../../manifest/fields.js';
import type { CheckResult, Context, Module } from '../types.js';
import { applyFile, checkFile, type FilePlan } from './file.js';
import { directoryModule } from './directory.js';

const args = z.strictObject({
  /** ssh.authorizedKeys from the manifest: one entry per user. */
  users: z.array(z.strictObject({ user: unixUser.default('root'), keys: z.array(sshPublicKey) })),
});
type Args = z.output<typeof args>;

export const BEGIN = '# BEGIN metis managed keys (edits inside this block are replaced)';
export const END = '# END metis managed keys';

type Step = { kind: 'dir'; path: string; check: Parameters<typeof directoryModule.apply>[2] } | { kind: 'file'; plan: FilePlan };
interface Plan {
  steps: Step[];
}

/** Replaces (or appends) the Metis block; keys outside it belong to someone else and are kept. */
export function withManagedBlock(current: string | null, keys: string[]): string {
  const block = [BEGIN, ...keys, END].join('\n');
  const text = current ?? '';
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END, start);
  if (start >= 0 && end >= 0) return `${text.slice(0, start)}${block}${text.slice(end + END.length)}`.replace(/\n*$/, '\n');
  const body = text.length === 0 || text.endsWith('\n') ? text : `${text}\n`;
  return `${body}${block}\n`;
}

async function homeOf(ctx: Context, user: string): Promise<string> {
  const passwd = (await ctx.fs.readText('/etc/passwd')) ?? '';
  const row = passwd.split('\n').map((l) => l.split(':')).find((c) => c[0] === user);
  if (!row || !row[5]) throw new MetisError('E_NO_SUCH_USER', `/etc/passwd has no user "${user}"`, { path: '/etc/passwd' });
  return row[5];
}

export const authorizedKeysModule: Module<Args, Plan> = {
  name: 'authorized_keys',
  args,
  async check(a, ctx) {
    const steps: Step[] = [];
    const diff = [];
    const reasons = [];
    for (const { user, keys } of a.users) {
      const sshDir = posix.join(await homeOf(ctx, user), '.ssh');
      const dir = await directoryModule.check({ path: sshDir, mode: 0o700, owner: user }, ctx);
      if (dir.status === 'change') steps.push({ kind: 'dir', path: sshDir, check: dir });
      const dest = `${sshDir}/authorized_keys`;
      const file = await checkFile(ctx, { dest, content: withManagedBlock(await ctx.fs.readText(dest), keys), mode: 0o600, owner: user });
      if (file.status === 'change') steps.push({ kind: 'file', plan: file.plan! });
      for (const c of [dir, file]) {
        diff.push(...(c.diff ?? []));
        if (c.reason) reasons.push(c.reason);
      }
    }
    return steps.length ? { status: 'change', reason: reasons.join('; '), diff, plan: { steps } } : { status: 'ok' };
  },
  async apply(_a, ctx, { plan }) {
    for (const s of plan!.steps) {
      if (s.kind === 'dir') await directoryModule.apply({ path: s.path }, ctx, s.check);
      else await applyFile(ctx, s.plan);
    }
  },
};
