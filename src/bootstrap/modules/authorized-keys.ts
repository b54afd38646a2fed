import { posix } from 'node:path';
import { z } from 'zod';
import { MetisError } from '../../lib/errors.js';
import { sshPublicKey, unixUser } from '../../manifest/fields.js';
import type { CheckResult, Context, Module } from '../types.js';
import { combine } from './combine.js';
import { checkDirectory } from './directory.js';
import { checkFile } from './file.js';

const args = z.strictObject({
  /** ssh.authorizedKeys from the manifest: one entry per user. */
  users: z.array(z.strictObject({ user: unixUser.default('root'), keys: z.array(sshPublicKey) })),
});
type Args = z.output<typeof args>;

export const BEGIN = '# BEGIN metis managed keys (edits inside this block are replaced)';
export const END = '# END metis managed keys';


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

export const authorizedKeysModule: Module<Args> = {
  name: 'authorized_keys',
  args,
  async check(a, ctx) {
    const parts: CheckResult[] = [];
    for (const { user, keys } of a.users) {
      const sshDir = posix.join(await homeOf(ctx, user), '.ssh');
      parts.push(await checkDirectory(ctx, { path: sshDir, mode: 0o700, owner: user }));
      const dest = `${sshDir}/authorized_keys`;
      parts.push(await checkFile(ctx, { dest, content: withManagedBlock(await ctx.fs.readText(dest), keys), mode: 0o600, owner: user }));
    }
    return combine(parts);
  },
};
