import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dropInPath, k3sMountsModule, longhornCheckArgv, mountUnitName, renderDropIn, unitWord } from '../../../src/bootstrap/modules/k3s-mounts.js';
import { convergeLoop, exampleManifest, makeContext, tempRoot } from '../../helpers/context.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

const mount = (path: string) => ({ uuid: '3a1f0c2e-5b7d-4e8f-9a10-b2c3d4e5f601', path, fstype: 'ext4' });

describe('k3s_mounts (Longhorn disk guard)', () => {
  it('writes RequiresMountsFor= for every data mount on the agent unit; check → change, apply, check → ok; no reload of its own', async () => {
    const { root, cleanup } = tempRoot();
    cleanups.push(cleanup);
    const ctx = makeContext({ root });
    const m = exampleManifest();
    const first = await convergeLoop(k3sMountsModule, { role: 'agent', mounts: m.mounts }, ctx);
    // systemd re-reads the drop-in at the run's next reload (engine/execute.ts: before a start, or settle).
    expect(first.actions.some((x) => x.kind === 'daemon-reload')).toBe(false);
    const text = readFileSync(join(root, 'etc/systemd/system/k3s-agent.service.d/metis-mounts.conf'), 'utf8');
    expect(text).toContain('[Unit]\nRequiresMountsFor=/mnt/astreae /mnt/asteria\n');
    expect(text).toContain('mnt-astreae.mount mnt-asteria.mount');
    // A changed manifest (one disk less) is a change again, then converges.
    await convergeLoop(k3sMountsModule, { role: 'agent', mounts: m.mounts.slice(1) }, ctx);
    expect(readFileSync(join(root, dropInPath('agent')), 'utf8')).toContain('RequiresMountsFor=/mnt/asteria\n');
  });

  it('check mode reports the change and writes nothing', async () => {
    const { root, cleanup } = tempRoot();
    cleanups.push(cleanup);
    const ctx = makeContext({ root, checkMode: true });
    const r = await k3sMountsModule.check(k3sMountsModule.args.parse({ role: 'server', mounts: [mount('/mnt/a')] }), ctx);
    expect(r.status).toBe('change');
    expect(existsSync(join(root, 'etc/systemd'))).toBe(false);
  });

  it('a role change moves the guard to the other unit; no mounts removes it', async () => {
    const { root, cleanup } = tempRoot();
    cleanups.push(cleanup);
    const ctx = makeContext({ root });
    await convergeLoop(k3sMountsModule, { role: 'agent', mounts: [mount('/mnt/a')] }, ctx);
    await convergeLoop(k3sMountsModule, { role: 'server', mounts: [mount('/mnt/a')] }, ctx);
    expect(existsSync(join(root, dropInPath('agent')))).toBe(false);
    expect(readFileSync(join(root, dropInPath('server')), 'utf8')).toContain('RequiresMountsFor=/mnt/a\n');
    await convergeLoop(k3sMountsModule, { role: 'server', mounts: [] }, ctx);
    expect(existsSync(join(root, dropInPath('server')))).toBe(false);
    // Nothing there and nothing wanted: ok from the start.
    expect((await k3sMountsModule.check(k3sMountsModule.args.parse({ role: 'server', mounts: [] }), ctx)).status).toBe('ok');
  });

  it('a path a unit file cannot carry never reaches the module: the shared schema names the field', () => {
    const r = k3sMountsModule.args.safeParse({ role: 'agent', mounts: [mount('/mnt/a\nExecStart=/bin/evil')] });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path.join('.'))).toContain('mounts.0.path');
    expect(r.error!.issues.map((i) => i.message).join(' ')).toMatch(/control character/);
  });

  // Escaping judged by systemd's own tools: systemd-escape for unit names, systemd-analyze for the unit file.
  const odd = ['/mnt/astreae', '/mnt/disk 2', '/mnt/über-disk', '/mnt/.hidden', '/srv/a-b_c:d', '/mnt/100%', '/mnt/q"uote', '/mnt/back\\slash'];

  it.each(odd)('mount unit name of %j matches systemd-escape --path --suffix=mount', (p) => {
    expect(mountUnitName(p)).toBe(execFileSync('systemd-escape', ['--path', '--suffix=mount', p], { encoding: 'utf8' }).trim());
  });

  it('RequiresMountsFor= words are parsed back by systemd into the same paths (systemd-analyze verify)', () => {
    const { root, cleanup } = tempRoot('metis-k3s-mounts-verify-');
    cleanups.push(cleanup);
    // A real unit with the drop-in, loaded offline by systemd: it derives one mount unit per path
    // and (at debug level) names each one it tries to load.
    mkdirSync(join(root, 'mnsguard.service.d'), { recursive: true });
    writeFileSync(join(root, 'mnsguard.service'), '[Service]\nType=oneshot\nExecStart=/bin/true\n');
    writeFileSync(join(root, 'mnsguard.service.d', 'metis-mounts.conf'), renderDropIn(odd));
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', join(root, 'mnsguard.service')], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, SYSTEMD_LOG_LEVEL: 'debug' } });
    const out = `${r.stdout}${r.stderr}`;
    expect(out).not.toMatch(/RequiresMountsFor=.*(ignoring|invalid)/i);
    for (const p of odd) expect(out, p).toContain(`${mountUnitName(p)}: `);
  });

  it('a Longhorn disk with an expected diskUUID gets an ExecStartPre check that systemd loads and real grep decides', async () => {
    const { root, cleanup } = tempRoot('metis-k3s-mounts-lh-');
    cleanups.push(cleanup);
    const ctx = makeContext({ root });
    const lh = '4b7e9d2a-1c3f-4e5a-8b6c-7d8e9f0a1b2c';
    await convergeLoop(k3sMountsModule, { role: 'agent', mounts: [{ ...mount('/mnt/astreae'), longhornDiskUuid: lh }, mount('/mnt/asteria')] }, ctx);
    const text = readFileSync(join(root, dropInPath('agent')), 'utf8');
    expect(text).toContain(`[Service]\nExecStartPre=/usr/bin/grep -qF '"diskUUID":"${lh}"' /mnt/astreae/longhorn-disk.cfg\n`);
    expect(text.match(/ExecStartPre=/g)).toHaveLength(1);
    // systemd accepts the drop-in (the Exec line included: its binary must exist, its quoting parse).
    const dir = join(root, 'units');
    mkdirSync(join(dir, 'mnsguard.service.d'), { recursive: true });
    writeFileSync(join(dir, 'mnsguard.service'), '[Service]\nType=oneshot\nExecStart=/bin/true\n');
    writeFileSync(join(dir, 'mnsguard.service.d', 'metis-mounts.conf'), text);
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', join(dir, 'mnsguard.service')], { encoding: 'utf8', timeout: 120_000 });
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/ExecStartPre|Invalid|ignoring|not executable/i);
    // The check itself, run with a disk root in the temp dir: right disk, other disk, blank disk.
    const disk = join(root, 'disk');
    mkdirSync(disk);
    const run = () => spawnSync(longhornCheckArgv(disk, lh)[0]!, longhornCheckArgv(disk, lh).slice(1)).status;
    expect(run()).not.toBe(0);
    writeFileSync(join(disk, 'longhorn-disk.cfg'), `{"diskName":"disk-1","diskUUID":"${lh}","diskDriver":""}`);
    expect(run()).toBe(0);
    writeFileSync(join(disk, 'longhorn-disk.cfg'), '{"diskName":"disk-1","diskUUID":"00000000-1c3f-4e5a-8b6c-7d8e9f0a1b2c"}');
    expect(run()).not.toBe(0);
  });

  it('a Longhorn disk path an Exec line cannot carry as is never reaches the module: the schema names it', () => {
    const r = k3sMountsModule.args.safeParse({ role: 'agent', mounts: [{ ...mount('/mnt/disk $2'), longhornDiskUuid: '4b7e9d2a-1c3f-4e5a-8b6c-7d8e9f0a1b2c' }] });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path.join('.'))).toContain('mounts.0.path');
  });

  it('quotes only what needs quoting', () => {
    expect(unitWord('/mnt/a')).toBe('/mnt/a');
    expect(unitWord('/mnt/disk 2')).toBe('"/mnt/disk 2"');
    expect(unitWord('/mnt/100%')).toBe('/mnt/100%%');
    expect(unitWord('/mnt/q"uote')).toBe('"/mnt/q\\"uote"');
  });
});
