import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostnameModule, hostsWith } from '../../../src/bootstrap/modules/hostname.js';
import { convergeLoop, makeContext } from '../../helpers/context.js';
import { useSysroot } from '../sysroot.js';

let root: string;
useSysroot('metis-mod-hostname-', (r) => (root = r));

describe('hostname module', () => {
  it('writes /etc/hostname and the 127.0.1.1 line; live hostname skipped under --root', async () => {
    writeFileSync(join(root, 'etc/hosts'), '127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n192.168.1.5\tnas # keep\n');
    const ctx = makeContext({ root });
    const first = await convergeLoop(hostnameModule, { name: 'titan-13' }, ctx);
    expect(first.reason).toMatch(/not live \(--root, or systemd not running\)/);
    expect(first.diff?.map((d) => d.target)).toEqual(['/etc/hostname', '/etc/hosts']);
    expect(readFileSync(join(root, 'etc/hostname'), 'utf8')).toBe('titan-13\n');
    expect(readFileSync(join(root, 'etc/hosts'), 'utf8')).toBe('127.0.0.1\tlocalhost\n127.0.1.1\ttitan-13\n192.168.1.5\tnas # keep\n');
    expect(ctx.exec.count()).toBe(0);
  });

  it('creates /etc/hosts when absent', async () => {
    rmSync(join(root, 'etc/hosts'));
    await convergeLoop(hostnameModule, { name: 'n1' }, makeContext({ root }));
    expect(readFileSync(join(root, 'etc/hosts'), 'utf8')).toMatch(/^127\.0\.0\.1\tlocalhost\n127\.0\.1\.1\tn1\n/);
  });

  it.each([
    ['127.0.0.1 localhost\n', '127.0.0.1 localhost\n127.0.1.1\tn\n'],
    ['127.0.1.1 a\n::1 x\n127.0.1.1 b\n', '127.0.1.1\tn\n::1 x\n'],
    ['# c\n127.0.0.1 localhost\n::1 l\n', '# c\n127.0.0.1 localhost\n127.0.1.1\tn\n::1 l\n'],
    ['::1 l', '127.0.1.1\tn\n::1 l\n'],
  ])('hostsWith(%j)', (input, want) => {
    expect(hostsWith(input, 'n')).toBe(want);
  });

  it.each(['-bad', 'UPPER', 'a_b', 'x'.repeat(64)])('refuses hostname %s', (name) => {
    expect(hostnameModule.args.safeParse({ name }).success).toBe(false);
  });
});
