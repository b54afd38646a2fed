import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isLive } from '../../src/bootstrap/context.js';

describe('isLive: live-system commands only on / of a systemd-booted system', () => {
  const made: string[] = [];
  afterAll(async () => {
    for (const d of made) await rm(d, { recursive: true, force: true });
  });
  const runDir = async (kind: 'dir' | 'file' | 'none') => {
    const d = await mkdtemp(join(tmpdir(), 'metis-live-'));
    made.push(d);
    const p = join(d, 'systemd/system');
    if (kind === 'dir') await mkdir(p, { recursive: true });
    if (kind === 'file') await mkdir(join(d, 'systemd'), { recursive: true }).then(() => writeFile(p, ''));
    return p;
  };

  it.each([
    ['/', 'dir', true],
    ['/', 'none', false], // chroot or build container: no running manager
    ['/', 'file', false],
    ['/srv/sysroot', 'dir', false], // --root: never live
  ] as const)('root %s, /run/systemd/system %s → %s', async (root, kind, expected) => {
    expect(await isLive(root, await runDir(kind))).toBe(expected);
  });
});

describe('test contexts', () => {
  it('are never live on this machine unless a test asks (no live command on the developer’s /)', async () => {
    const { makeContext } = await import('../helpers/context.js');
    expect(makeContext({ root: '/', checkMode: true }).live).toBe(false);
  });
});
