import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { assetsFrom } from '../../src/bootstrap/assets.js';
import { exitCodeFor, run, type RunOptions } from '../../src/bootstrap/engine/run.js';
import { managedDirs, removeStaleTemps } from '../../src/bootstrap/stale-temps.js';
import { exampleManifestText, tempRoot } from '../helpers/context.js';
import { makeSysroot } from './sysroot.js';

let root: string;
let cleanup: () => void;
beforeEach(() => {
  ({ root, cleanup } = tempRoot('metis-stale-'));
  makeSysroot(root);
  writeFileSync(join(root, 'node.yaml'), exampleManifestText);
});
afterEach(() => cleanup());

const put = (p: string, text = 'partial') => {
  mkdirSync(join(root, p, '..'), { recursive: true });
  writeFileSync(join(root, p), text);
};

describe('stale temps of an interrupted run', () => {
  it('removes only regular files named .NAME.metis-<8 hex>, only in the given directories, not below them', async () => {
    put('etc/.hostname.metis-0123abcd');
    put('etc/.shadow.metis-deadbeef');
    put('etc/.hostname.metis-xyz'); // not our pattern
    put('etc/hostname.metis-0123abcd'); // no leading dot
    put('etc/sub/.a.metis-0123abcd'); // below a managed dir
    put('opt/.a.metis-0123abcd'); // not managed
    symlinkSync('/etc/passwd', join(root, 'etc/.link.metis-0123abcd'));
    const removed = await removeStaleTemps([join(root, 'etc'), join(root, 'missing')]);
    expect(removed.sort()).toEqual([join(root, 'etc/.hostname.metis-0123abcd'), join(root, 'etc/.shadow.metis-deadbeef')]);
    for (const kept of ['etc/.hostname.metis-xyz', 'etc/hostname.metis-0123abcd', 'etc/sub/.a.metis-0123abcd', 'opt/.a.metis-0123abcd', 'etc/.link.metis-0123abcd']) {
      expect(existsSync(join(root, kept)), kept).toBe(true);
    }
  });

  it('the managed directories are those of every path in the tasks, plus the state and manifest dirs', () => {
    const dirs = managedDirs('/r', [{ args: { dest: '/etc/ssh/sshd_config', nested: [{ path: '/etc/rancher/k3s/config.yaml' }], text: 'relative' } }, { args: undefined }], ['/r/var/lib/metis']);
    expect(dirs).toEqual(expect.arrayContaining(['/r/var/lib/metis', '/r/etc/ssh', '/r/etc/rancher/k3s']));
    expect(dirs).not.toContain('/r/relative');
  });

  it('an apply removes them where it writes and logs it; --check leaves them', async () => {
    put('etc/.a.metis-0123abcd');
    put('var/lib/metis/.secrets.json.metis-0123abcd');
    put('opt/.a.metis-0123abcd');
    const logs: string[] = [];
    const opts = (checkMode: boolean): RunOptions => ({
      root,
      manifestPath: join(root, 'node.yaml'),
      checkMode,
      assets: assetsFrom({ 'tasks/10-a.yaml': '- name: a\n  file:\n    dest: /etc/a\n    content: "x"\n' }),
      logDest: new Writable({ write: (c, _e, cb) => (logs.push(String(c)), cb()) }),
    });
    expect(exitCodeFor(await run(opts(true)))).toBe(2);
    expect(existsSync(join(root, 'etc/.a.metis-0123abcd'))).toBe(true);
    expect(exitCodeFor(await run(opts(false)))).toBe(2);
    expect(existsSync(join(root, 'etc/.a.metis-0123abcd'))).toBe(false);
    expect(existsSync(join(root, 'var/lib/metis/.secrets.json.metis-0123abcd'))).toBe(false);
    expect(existsSync(join(root, 'opt/.a.metis-0123abcd'))).toBe(true);
    expect(logs.join('')).toMatch(/removed 2 temp file\(s\) left by an interrupted run/);
  });
});
