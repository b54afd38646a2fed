import { posix } from 'node:path';
import { z } from 'zod';
import { userSchema, type User } from '../../manifest/schema.js';
import type { Action, ApplyResult, CheckResult, Context, DiffEntry, Module } from '../types.js';
import { withManagedBlock } from './authorized-keys.js';
import { combine } from './combine.js';
import { checkDirectory } from './directory.js';
import { checkFile } from './file.js';

/** One file for every sudo rule Metis grants; regenerated from the manifest, so a dropped rule goes. */
export const SUDOERS = '/etc/sudoers.d/60-metis-users';

const args = z.strictObject({ users: z.array(userSchema) });
type Args = z.output<typeof args>;
interface Data {
  /** Users created by this plan: their keys are planned again once they exist (uid known). */
  created: string[];
}

interface Account {
  uid: number;
  gid: number;
  home: string;
  shell: string;
  /** The password field (shadow's when there is one). */
  password: string;
  groups: Set<string>;
}

const rows = (text: string | null) => (text ?? '').split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));

/** The node's own account database, read from the managed root's files (never NSS of this host). */
async function readAccounts(ctx: Context): Promise<{ accounts: Map<string, Account>; groups: Set<string> }> {
  const passwd = rows(await ctx.fs.readText('/etc/passwd'));
  const shadow = new Map(rows(await ctx.fs.readText('/etc/shadow')).map((c) => [c[0]!, c[1] ?? '']));
  const group = rows(await ctx.fs.readText('/etc/group'));
  const accounts = new Map<string, Account>();
  for (const c of passwd) {
    const name = c[0]!;
    const members = new Set(group.filter((g) => (g[3] ?? '').split(',').includes(name)).map((g) => g[0]!));
    accounts.set(name, { uid: Number(c[2]), gid: Number(c[3]), home: c[5] ?? '', shell: c[6] ?? '', password: shadow.get(name) ?? c[1] ?? '', groups: members });
  }
  return { accounts, groups: new Set(group.map((g) => g[0]!)) };
}

/** Locked as `usermod -L` leaves it (`!…`), or no password hash at all (`*`): no password login. */
export const isLocked = (password: string) => password.startsWith('!') || password.startsWith('*');

export function renderSudoers(users: User[]): string | null {
  const rules = users.filter((u) => u.sudo !== 'none').map((u) => `${u.name} ALL=(ALL:ALL) ${u.sudo === 'nopasswd' ? 'NOPASSWD: ' : ''}ALL`);
  if (!rules.length) return null;
  return `# Managed by metis-bootstrap from the manifest's users; local edits are reverted.\n${rules.join('\n')}\n`;
}

/** `useradd`/`usermod` work on the managed root's files through their own --root (chroot). */
const rootArgs = (ctx: Context) => (ctx.root === '/' ? [] : ['--root', ctx.root]);

async function checkKeys(ctx: Context, u: User, home: string): Promise<CheckResult> {
  const sshDir = posix.join(home, '.ssh');
  const dest = `${sshDir}/authorized_keys`;
  const current = await ctx.fs.readText(dest);
  // No keys wanted and none there: nothing to manage. Keys there but none wanted: Metis's block is emptied.
  if (!u.authorizedKeys.length && current === null) return { status: 'ok' };
  return combine([
    await checkDirectory(ctx, { path: sshDir, mode: 0o700, owner: u.name }),
    await checkFile(ctx, { dest, content: withManagedBlock(current, u.authorizedKeys), mode: 0o600, owner: u.name }),
  ]);
}

export const userModule: Module<Args, Data> = {
  name: 'user',
  args,
  async check(a, ctx) {
    const { accounts, groups } = await readAccounts(ctx);
    const missing = a.users.flatMap((u) => u.groups.filter((g) => !groups.has(g)).map((g) => `group ${g} (for ${u.name})`));
    if (missing.length) return { status: 'fail', reason: `${missing.join(', ')} does not exist on the node: add it to the class image; no account was changed` };
    const sudoers = renderSudoers(a.users);
    if (sudoers && !(await ctx.fs.exists('/etc/sudoers'))) return { status: 'fail', reason: `sudo is not installed on the node (no /etc/sudoers), but ${a.users.filter((u) => u.sudo !== 'none').map((u) => u.name).join(', ')} should have sudo: add the sudo package to the class` };
    const taken = new Map([...accounts].map(([n, acc]) => [acc.uid, n]));
    const parts: CheckResult[] = [];
    const created: string[] = [];
    for (const u of a.users) {
      if (u.uid !== undefined && taken.has(u.uid) && taken.get(u.uid) !== u.name) {
        return { status: 'fail', reason: `uid ${u.uid} for ${u.name} already belongs to ${taken.get(u.uid)} on the node; no account was changed` };
      }
      const acc = accounts.get(u.name);
      if (!acc) {
        created.push(u.name);
        const argv = ['useradd', ...rootArgs(ctx), '--create-home', '--user-group', '--shell', u.shell, ...(u.uid !== undefined ? ['--uid', String(u.uid)] : []), ...(u.groups.length ? ['--groups', u.groups.join(',')] : []), '--', u.name];
        const diff: DiffEntry[] = [{ target: `user ${u.name}`, before: null, after: summary(u) }];
        if (u.authorizedKeys.length) diff.push({ target: `user ${u.name} authorized_keys`, before: null, after: `${u.authorizedKeys.length} key(s)` });
        // useradd leaves the new account's password locked ("!"): nothing more to do for lockPassword.
        parts.push({ status: 'change', reason: `create user ${u.name}`, diff, actions: [{ kind: 'run', argv }] });
        continue;
      }
      const flags: string[] = [];
      const diff: DiffEntry[] = [];
      if (u.uid !== undefined && acc.uid !== u.uid) {
        flags.push('--uid', String(u.uid));
        diff.push({ target: `user ${u.name} uid`, before: String(acc.uid), after: String(u.uid) });
      }
      if (acc.shell !== u.shell) {
        flags.push('--shell', u.shell);
        diff.push({ target: `user ${u.name} shell`, before: acc.shell, after: u.shell });
      }
      const want = [...new Set(u.groups)].sort();
      const have = [...acc.groups].sort();
      if (want.join(',') !== have.join(',')) {
        flags.push('--groups', want.join(','));
        diff.push({ target: `user ${u.name} groups`, before: have.join(',') || '(none)', after: want.join(',') || '(none)' });
      }
      const actions: Action[] = [];
      if (flags.length) actions.push({ kind: 'run', argv: ['usermod', ...rootArgs(ctx), ...flags, '--', u.name] });
      if (u.lockPassword && !isLocked(acc.password)) {
        actions.push({ kind: 'run', argv: ['usermod', ...rootArgs(ctx), '--lock', '--', u.name] });
        diff.push({ target: `user ${u.name} password`, before: 'usable', after: 'locked' });
      }
      if (actions.length) parts.push({ status: 'change', reason: `user ${u.name}: ${diff.map((d) => d.target.slice(`user ${u.name} `.length)).join(', ')}`, diff, actions });
      parts.push(await checkKeys(ctx, u, acc.home));
    }
    if (sudoers !== null) {
      parts.push(await checkFile(ctx, { dest: SUDOERS, content: sudoers, mode: 0o440, owner: 'root', group: 'root', validate: { argv: ['visudo', '-c', '-q', '-f', '%s'] } }));
    } else if (await ctx.fs.exists(SUDOERS)) {
      parts.push({ status: 'change', reason: `remove ${SUDOERS} (no user has sudo)`, diff: [{ target: SUDOERS, before: (await ctx.fs.readText(SUDOERS)) ?? '', after: null }], actions: [{ kind: 'remove', path: SUDOERS }] });
    }
    const r = combine(parts);
    return r.status === 'change' ? { ...r, data: { created } } : r;
  },
  /** Accounts first; a new account's keys can only be planned once useradd has given it a uid and home. */
  async apply(a, ctx, plan): Promise<ApplyResult> {
    await ctx.execute(plan.actions);
    const created = new Set(plan.data?.created ?? []);
    if (!created.size) return {};
    const { accounts } = await readAccounts(ctx);
    for (const u of a.users.filter((x) => created.has(x.name))) {
      const acc = accounts.get(u.name);
      if (!acc) return { failed: `useradd reported success but ${u.name} is not in /etc/passwd` };
      const keys = await checkKeys(ctx, u, acc.home);
      if (keys.status === 'change') await ctx.execute(keys.actions);
      else if (keys.status === 'fail') return { failed: keys.reason };
    }
    return { facts: { usersCreated: [...created] } };
  },
};

function summary(u: User): string {
  return [`uid ${u.uid ?? '(next free)'}`, `shell ${u.shell}`, `groups ${u.groups.join(',') || '(none)'}`, `sudo ${u.sudo}`, u.lockPassword ? 'password locked' : 'password unmanaged'].join(', ');
}
