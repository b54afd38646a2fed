import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { directoryModule } from '../../../src/bootstrap/modules/directory.js';
import { convergeLoop, makeContext } from '../../helpers/context.js';
import { useSysroot } from '../sysroot.js';

let root: string;
useSysroot('metis-mod-dir-', (r) => (root = r));

describe('directory module', () => {
  it('creates nested with mode and owner', async () => {
    await convergeLoop(directoryModule, { path: '/srv/a/b', mode: '0750', owner: 'admin' }, makeContext({ root }));
    const st = statSync(join(root, 'srv/a/b'));
    expect([st.mode & 0o7777, st.uid, st.gid]).toEqual([0o750, 1000, 1000]);
  });

  it('fixes the mode of an existing directory', async () => {
    mkdirSync(join(root, 'srv'));
    chmodSync(join(root, 'srv'), 0o777);
    const first = await convergeLoop(directoryModule, { path: '/srv', mode: '0755' }, makeContext({ root }));
    expect(first.diff).toEqual([{ target: '/srv mode', before: '0777', after: '0755' }]);
  });

  it('an existing directory without wanted mode is ok', async () => {
    expect((await directoryModule.check(directoryModule.args.parse({ path: '/etc' }), makeContext({ root }))).status).toBe('ok');
  });

  it('a file in the way is a check error', async () => {
    writeFileSync(join(root, 'srv'), '');
    await expect(directoryModule.check(directoryModule.args.parse({ path: '/srv' }), makeContext({ root }))).rejects.toThrow(/not a directory/);
  });
});
