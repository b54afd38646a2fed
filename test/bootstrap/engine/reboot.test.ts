import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { assetsFrom } from '../../../src/bootstrap/assets.js';
import { decideReboot, REBOOT_GUARD_FILE, REBOOT_REQUIRED_FILE, trackRebootRequired } from '../../../src/bootstrap/engine/reboot.js';
import { exitCodeFor, run, type RunOptions } from '../../../src/bootstrap/engine/run.js';
import { exampleManifestText, tempRoot } from '../../helpers/context.js';
import { makeSysroot } from '../sysroot.js';

let root: string;
let state: string;
let cleanup: () => void;
beforeEach(() => {
  ({ root, cleanup } = tempRoot('hhk-reboot-'));
  state = join(root, 'var/lib/metis');
});
afterEach(() => cleanup());

describe('reboot required: tracked per boot', () => {
  it('a change is remembered for the rest of this boot and forgotten by the next boot; check mode writes nothing', async () => {
    expect(await trackRebootRequired(state, ['/boot/firmware/config.txt'], true, 'boot-1')).toEqual(['/boot/firmware/config.txt']);
    expect(existsSync(join(state, REBOOT_REQUIRED_FILE))).toBe(false);
    expect(await trackRebootRequired(state, ['/boot/firmware/config.txt'], false, 'boot-1')).toEqual(['/boot/firmware/config.txt']);
    // A later run of the same boot changes nothing, but the node still has not booted with the change.
    expect(await trackRebootRequired(state, [], false, 'boot-1')).toEqual(['/boot/firmware/config.txt']);
    expect(await trackRebootRequired(state, ['/boot/firmware/cmdline.txt'], false, 'boot-1')).toEqual(['/boot/firmware/config.txt', '/boot/firmware/cmdline.txt']);
    expect(await trackRebootRequired(state, [], false, 'boot-2')).toEqual([]);
    expect(existsSync(join(state, REBOOT_REQUIRED_FILE))).toBe(false);
  });
});

describe('--reboot-if-required: once, guarded against loops', () => {
  const base = { live: true, checkMode: false, manifestHash: 'm1', required: ['/boot/firmware/config.txt'] };

  it('reboots once; the same boot never asks twice; back up and required again for the same manifest: refused; a new manifest re-arms', async () => {
    const first = await decideReboot({ ...base, stateDir: state, bootId: 'boot-1' });
    expect(first).toEqual({ reboot: true, note: 'rebooting for /boot/firmware/config.txt' });
    const guard = JSON.parse(readFileSync(join(state, REBOOT_GUARD_FILE), 'utf8'));
    expect(guard).toMatchObject({ bootId: 'boot-1', manifestHash: 'm1' });
    expect((await decideReboot({ ...base, stateDir: state, bootId: 'boot-1' })).reboot).toBe(false);
    const loop = await decideReboot({ ...base, stateDir: state, bootId: 'boot-2' });
    expect(loop).toMatchObject({ reboot: false, note: expect.stringMatching(/^loop guard: already rebooted once for this manifest/) });
    expect((await decideReboot({ ...base, stateDir: state, bootId: 'boot-2', manifestHash: 'm2' })).reboot).toBe(true);
  });

  it('never without a requirement, in check mode, or on a system that is not live', async () => {
    expect((await decideReboot({ ...base, stateDir: state, bootId: 'b', required: [] })).reboot).toBe(false);
    expect((await decideReboot({ ...base, stateDir: state, bootId: 'b', checkMode: true })).reboot).toBe(false);
    expect(await decideReboot({ ...base, stateDir: state, bootId: 'b', live: false })).toEqual({ reboot: false, note: 'not live (--root, or systemd not running): not rebooting' });
    expect(existsSync(join(state, REBOOT_GUARD_FILE))).toBe(false);
  });
});

describe('run: a boot change says "reboot required" in the report', () => {
  it('apply → rebootRequired; with --reboot-if-required on a sysroot: not rebooting, and why', async () => {
    makeSysroot(root);
    mkdirSync(join(root, 'boot/firmware'), { recursive: true });
    writeFileSync(join(root, 'boot/firmware/config.txt'), 'dtparam=audio=on\n');
    writeFileSync(join(root, 'boot/firmware/cmdline.txt'), 'console=tty1 root=PARTUUID=1-02 rootwait\n');
    const manifestPath = join(root, 'node.yaml');
    writeFileSync(manifestPath, `${exampleManifestText}\nboot:\n  config:\n    all: [dtoverlay=rpi-poe-plus]\n  cmdline:\n    add: [cgroup_memory=1]\n`);
    const bootIdFile = join(root, 'boot_id');
    writeFileSync(bootIdFile, 'boot-1\n');
    const logs: string[] = [];
    const opts: RunOptions = {
      root,
      manifestPath,
      checkMode: false,
      bootIdFile,
      nodeReport: false,
      rebootIfRequired: true,
      assets: assetsFrom({ 'tasks/35-boot.yaml': readFileSync(new URL('../../../tasks/35-boot.yaml', import.meta.url), 'utf8') }),
      logDest: new Writable({ write: (c, _e, cb) => (logs.push(String(c)), cb()) }),
    };
    const check = await run({ ...opts, checkMode: true });
    expect(check.rebootRequired).toBeUndefined();
    expect(check.tasks[0]).toMatchObject({ status: 'changed', planned: true, reason: expect.stringMatching(/reboot required/) });
    const apply = await run(opts);
    expect(exitCodeFor(apply)).toBe(2);
    expect(apply.rebootRequired).toEqual(['/boot/firmware/config.txt', '/boot/firmware/cmdline.txt']);
    expect(apply.reboot).toBe('not live (--root, or systemd not running): not rebooting');
    expect(logs.join('')).toMatch(/reboot required: \/boot\/firmware\/config.txt, \/boot\/firmware\/cmdline.txt changed/);
    const again = await run(opts);
    expect(exitCodeFor(again)).toBe(0);
    expect(again.rebootRequired).toEqual(['/boot/firmware/config.txt', '/boot/firmware/cmdline.txt']);
    writeFileSync(bootIdFile, 'boot-2\n');
    const booted = await run(opts);
    expect(booted.rebootRequired).toBeUndefined();
    expect(JSON.parse(readFileSync(join(state, 'last-run.json'), 'utf8')).rebootRequired).toBeUndefined();
  });
});
