import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startSshHosts } from './ssh-host.js';

// The harness's own promise: a test file whose hosts could not all start leaves no namespace, no
// sshd, no user and no directory behind (the fleet tests start five at once).
const root = process.getuid?.() === 0;
if (!root) console.warn('skip: startSshHosts creates network namespaces, users and sshd, which needs root');

const namespaces = (prefix: string) => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith(`${prefix}-ssh-`));
const dirs = (prefix: string) => (existsSync('/run/metis-test') ? readdirSync('/run/metis-test').filter((d) => d.startsWith(`${prefix}-sshhost-`)) : []);
const users = (prefix: string) => execFileSync('getent', ['passwd'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith(`${prefix}u`));
const sshds = (prefix: string) => execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(`/run/metis-test/${prefix}-sshhost-`));

describe.skipIf(!root)('startSshHosts (test/helpers/ssh-host.ts)', () => {
  it('when one host cannot start, stops the ones that did and throws its error', async () => {
    const prefix = 'mhx';
    // useradd refuses a name with a space: the third host fails after its namespace, veth pair and keys exist.
    const err = await startSshHosts([{ prefix }, { prefix, users: [{ sudo: 'none' }] }, { prefix, users: [{ name: 'no such user' }] }]).then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/useradd .*no such user/);
    expect(namespaces(prefix)).toEqual([]);
    expect(dirs(prefix)).toEqual([]);
    expect(users(prefix)).toEqual([]);
    expect(sshds(prefix)).toEqual([]);
  }, 120_000);

  it('starts every host when all can', async () => {
    const prefix = 'mhy';
    const hosts = await startSshHosts([{ prefix, users: [] }, { prefix, users: [] }]);
    try {
      expect(hosts).toHaveLength(2);
      expect(namespaces(prefix)).toHaveLength(2);
      expect(new Set(hosts.map((h) => h.ns)).size).toBe(2);
    } finally {
      await Promise.all(hosts.map((h) => h.stop()));
    }
    expect(namespaces(prefix)).toEqual([]);
    expect(dirs(prefix)).toEqual([]);
  }, 120_000);
});
