import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { authorizedKeysModule, BEGIN, END, withManagedBlock } from '../../../src/bootstrap/modules/authorized-keys.js';
import { convergeLoop, makeContext } from '../../helpers/context.js';
import { useSysroot } from '../sysroot.js';

let root: string;
useSysroot('metis-mod-keys-', (r) => (root = r));

const k1 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPRmABP4nzXJlm3g1mXswQ5x7CDlV2P3NORfaZwINPlD op@a';
const k2 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk8gTl3dNQvR6mT1ZzK6v0oJ4lYxQzq8WcJ0b2Q5r1e op@b';

describe('authorized_keys module', () => {
  it('creates ~/.ssh 0700 and authorized_keys 0600 owned by the user from the root passwd', async () => {
    await convergeLoop(authorizedKeysModule, { users: [{ user: 'admin', keys: [k1] }, { user: 'root', keys: [k2] }] }, makeContext({ root }));
    const dir = statSync(join(root, 'home/admin/.ssh'));
    const file = statSync(join(root, 'home/admin/.ssh/authorized_keys'));
    expect([dir.mode & 0o7777, dir.uid, dir.gid]).toEqual([0o700, 1000, 1000]);
    expect([file.mode & 0o7777, file.uid, file.gid]).toEqual([0o600, 1000, 1000]);
    expect(readFileSync(join(root, 'root/.ssh/authorized_keys'), 'utf8')).toBe(`${BEGIN}\n${k2}\n${END}\n`);
  });

  it('keeps keys outside the Metis block and replaces the block', async () => {
    mkdirSync(join(root, 'root/.ssh'), { mode: 0o700 });
    writeFileSync(join(root, 'root/.ssh/authorized_keys'), `ssh-rsa AAAAother someone\n${BEGIN}\n${k1}\n${END}\n# trailing\n`, { mode: 0o600 });
    const first = await convergeLoop(authorizedKeysModule, { users: [{ user: 'root', keys: [k2] }] }, makeContext({ root }));
    expect(first.diff?.map((d) => d.target)).toEqual(['/root/.ssh/authorized_keys']);
    expect(readFileSync(join(root, 'root/.ssh/authorized_keys'), 'utf8')).toBe(`ssh-rsa AAAAother someone\n${BEGIN}\n${k2}\n${END}\n# trailing\n`);
  });

  it('an unknown user is a check error', async () => {
    const a = authorizedKeysModule.args.parse({ users: [{ user: 'ghost', keys: [k1] }] });
    await expect(authorizedKeysModule.check(a, makeContext({ root }))).rejects.toThrow(/\/etc\/passwd has no user "ghost"/);
  });

  it.each([
    [null, [k1], `${BEGIN}\n${k1}\n${END}\n`],
    ['a\n', [], `a\n${BEGIN}\n${END}\n`],
    ['a', [k1], `a\n${BEGIN}\n${k1}\n${END}\n`],
  ])('withManagedBlock(%j)', (cur, keys, want) => {
    expect(withManagedBlock(cur, keys)).toBe(want);
  });

  it('refuses a key that is not an OpenSSH public key', () => {
    expect(authorizedKeysModule.args.safeParse({ users: [{ user: 'root', keys: ['not a key'] }] }).success).toBe(false);
  });
});
