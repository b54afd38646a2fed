import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { exitCodeFor, run } from '../../src/bootstrap/engine/run.js';
import { exampleManifestText } from '../helpers/context.js';
import { addChrootBinaries } from './chroot-bins.js';
import { useSysroot } from './sysroot.js';

// The repo's own tasks/ and templates/ (every engineer's), converged twice in a Debian-like sysroot.
const minimal = `schemaVersion: 1
node: { hostname: bare-1, class: plain, arch: amd64 }
network:
  ipv4: { address: 10.9.0.5/24 }
`;

let root: string;
useSysroot('metis-tasks-', (r) => (root = r));

describe('repo tasks', () => {
  it.each([
    ['the example manifest', exampleManifestText],
    ['a minimal manifest (no k3s, mounts, keys, iSCSI)', minimal],
  ])('converge a sysroot for %s, then are idempotent', async (_l, text) => {
    const manifestPath = join(root, 'node.yaml');
    writeFileSync(manifestPath, text);
    const logs: string[] = [];
    const logDest = new Writable({ write: (c, _e, cb) => (logs.push(String(c)), cb()) });
    const first = await run({ root, manifestPath, checkMode: false, logDest });
    expect(first.error, logs.join('')).toBeUndefined();
    expect(first.summary.failed, JSON.stringify(first.tasks.filter((t) => t.status === 'failed'))).toBe(0);
    expect(exitCodeFor(first)).toBe(2);
    const second = await run({ root, manifestPath, checkMode: false, logDest });
    expect(second.tasks.filter((t) => t.status === 'changed').map((t) => `${t.name}: ${t.reason}`)).toEqual([]);
    expect(exitCodeFor(second)).toBe(0);
  });
});

describe('repo tasks with hooks and the Pi boot config', () => {
  it('converge: boot files, hook file and command at their phases; then idempotent', async () => {
    mkdirSync(join(root, 'boot/firmware'), { recursive: true });
    writeFileSync(join(root, 'boot/firmware/config.txt'), 'dtparam=audio=on\n');
    writeFileSync(join(root, 'boot/firmware/cmdline.txt'), 'console=tty1 root=PARTUUID=1-02 rootwait\n');
    addChrootBinaries(root, ['/usr/bin/dash', '/usr/bin/touch']);
    const manifestPath = join(root, 'node.yaml');
    writeFileSync(
      manifestPath,
      `${minimal}boot:
  config:
    all: [dtoverlay=rpi-poe-plus, dtparam=poe_fan_temp0=50000]
  cmdline:
    add: [cgroup_memory=1, cgroup_enable=memory]
files:
  - { path: /etc/modules-load.d/fan.conf, content: "dm_crypt\\n", after: boot }
tasks:
  - name: fan calibrated
    command: { argv: [/usr/bin/touch, /etc/fan-calibrated], creates: /etc/fan-calibrated }
    after: boot
`,
    );
    const logDest = new Writable({ write: (_c, _e, cb) => cb() });
    const first = await run({ root, manifestPath, checkMode: false, logDest, nodeReport: false });
    expect(first.summary.failed, JSON.stringify(first.tasks.filter((t) => t.status === 'failed'))).toBe(0);
    const names = first.tasks.map((t) => t.name);
    const at = (n: string) => names.indexOf(n);
    expect(at('journald limits drop-in')).toBeLessThan(at('Pi boot config (config.txt, cmdline.txt)'));
    expect(at('Pi boot config (config.txt, cmdline.txt)')).toBeLessThan(at('file /etc/modules-load.d/fan.conf'));
    expect(at('file /etc/modules-load.d/fan.conf')).toBeLessThan(at('fan calibrated'));
    expect(at('fan calibrated')).toBeLessThan(at('login banner names the node and who manages it'));
    expect(first.rebootRequired).toEqual(['/boot/firmware/config.txt', '/boot/firmware/cmdline.txt']);
    expect(readFileSync(join(root, 'boot/firmware/cmdline.txt'), 'utf8')).toBe('console=tty1 root=PARTUUID=1-02 rootwait cgroup_memory=1 cgroup_enable=memory\n');
    expect(existsSync(join(root, 'etc/fan-calibrated'))).toBe(true);
    const second = await run({ root, manifestPath, checkMode: false, logDest, nodeReport: false });
    expect(second.tasks.filter((t) => t.status === 'changed').map((t) => `${t.name}: ${t.reason}`)).toEqual([]);
    expect(exitCodeFor(second)).toBe(0);
  });
});
