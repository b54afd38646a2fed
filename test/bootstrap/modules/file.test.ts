import { chmodSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileModule } from '../../../src/bootstrap/modules/file.js';
import { applyPlanned, convergeLoop, makeContext } from '../../helpers/context.js';
import { useSysroot } from '../sysroot.js';

let root: string;
useSysroot('metis-mod-file-', (r) => (root = r));

describe('file module', () => {
  it('creates a file with mode and owner', async () => {
    const ctx = makeContext({ root });
    const first = await convergeLoop(fileModule, { dest: '/etc/metis/a.conf', content: 'a=1\n', mode: '0640', owner: 'admin', group: 'root' }, ctx);
    expect(first.diff).toEqual([{ target: '/etc/metis/a.conf', before: null, after: 'a=1\n' }]);
    const st = statSync(join(root, 'etc/metis/a.conf'));
    expect(st.mode & 0o7777).toBe(0o640);
    expect([st.uid, st.gid]).toEqual([1000, 0]);
  });

  it('changed content and mode are both seen and fixed', async () => {
    writeFileSync(join(root, 'etc/x'), 'old\n');
    chmodSync(join(root, 'etc/x'), 0o666);
    const ctx = makeContext({ root });
    const first = await convergeLoop(fileModule, { dest: '/etc/x', content: 'new\n', mode: '0644' }, ctx);
    expect(first.diff?.map((d) => d.target)).toEqual(['/etc/x', '/etc/x mode']);
    expect(readFileSync(join(root, 'etc/x'), 'utf8')).toBe('new\n');
  });

  it('mode only: chmod in place, no rewrite', async () => {
    writeFileSync(join(root, 'etc/y'), 'same\n');
    chmodSync(join(root, 'etc/y'), 0o600);
    const ctx = makeContext({ root });
    const first = await convergeLoop(fileModule, { dest: '/etc/y', content: 'same\n', mode: '0644' }, ctx);
    expect(first.diff).toEqual([{ target: '/etc/y mode', before: '0600', after: '0644' }]);
    expect(ctx.fs.written).toEqual([]);
  });

  it('a failing validate command leaves the target untouched and no temp file', async () => {
    writeFileSync(join(root, 'etc/z'), 'keep\n');
    const ctx = makeContext({ root });
    const args = fileModule.args.parse({ dest: '/etc/z', content: 'bad\n', validate: ['grep', '-q', 'good', '%s'] });
    const plan = await fileModule.check(args, ctx);
    await expect(applyPlanned(fileModule, args, ctx, plan)).rejects.toThrow(/grep -q good .* exited 1/);
    expect(readFileSync(join(root, 'etc/z'), 'utf8')).toBe('keep\n');
    expect((await ctx.fs.readdir('/etc')).filter((f) => f.includes('metis-'))).toEqual([]);
  });

  it('a passing validate command lets it land', async () => {
    await convergeLoop(fileModule, { dest: '/etc/v', content: 'good\n', validate: ['grep', '-q', 'good', '%s'] }, makeContext({ root }));
  });

  it.each([
    [{ dest: 'etc/a', content: '' }, 'dest'],
    [{ dest: '/etc/a', content: '', mode: 644 }, 'mode'],
    [{ dest: '/etc/a', content: '', mode: '0999' }, 'mode'],
    [{ dest: '/etc/a', content: '', validate: ['true'] }, 'validate'],
    [{ dest: '/etc/a', content: '', extra: 1 }, ''],
  ])('args %j refused at %s', (args, path) => {
    const r = fileModule.args.safeParse(args);
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path.join('.')).toBe(path);
  });

  it('a directory in the way is a check error', async () => {
    mkdirSync(join(root, 'etc/dir'));
    await expect(fileModule.check(fileModule.args.parse({ dest: '/etc/dir', content: '' }), makeContext({ root }))).rejects.toThrow(/not a regular file/);
  });

  it('an unknown owner is a check error naming the root passwd', async () => {
    await expect(fileModule.check(fileModule.args.parse({ dest: '/etc/o', content: '', owner: 'nobody2' }), makeContext({ root }))).rejects.toThrow(/\/etc\/passwd has no entry "nobody2"/);
  });
});
