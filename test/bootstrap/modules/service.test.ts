import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseShow } from '../../../src/bootstrap/facts/systemd.js';
import type { Exec } from '../../../src/bootstrap/exec.js';
import { serviceModule } from '../../../src/bootstrap/modules/service.js';
import { convergeLoop, makeContext } from '../../helpers/context.js';
import { useSysroot } from '../sysroot.js';

let root: string;
useSysroot('metis-mod-service-', (r) => (root = r));

const wants = (u: string) => join(root, 'etc/systemd/system/multi-user.target.wants', u);

describe('service module under --root (systemctl --root, offline)', () => {
  it('enables, then disables, a unit', async () => {
    const ctx = makeContext({ root });
    const first = await convergeLoop(serviceModule, { name: 'ssh', enabled: true }, ctx);
    expect(first.diff).toEqual([{ target: 'unit ssh.service', before: 'disabled', after: 'enabled' }]);
    expect(lstatSync(wants('ssh.service')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(wants('ssh.service'))).toBe('/lib/systemd/system/ssh.service');
    await convergeLoop(serviceModule, { name: 'ssh.service', enabled: false }, makeContext({ root }));
    expect(existsSync(wants('ssh.service'))).toBe(false);
  });

  it('reads all units of the run with one systemctl (prepare), missing unit files without asking', async () => {
    const ctx = makeContext({ root });
    const all = [{ name: 'ssh', enabled: true }, { name: 'systemd-journald', enabled: true }, { name: 'k3s-agent', enabled: true }].map((a) => serviceModule.args.parse(a));
    await serviceModule.prepare!(all, ctx);
    expect(ctx.exec.count()).toBe(1);
    const checks = await Promise.all(all.map((a) => serviceModule.check(a, ctx)));
    expect(ctx.exec.count()).toBe(1);
    expect(checks.map((c) => c.status)).toEqual(['change', 'ok', 'change']);
    expect(checks[2]!.reason).toBe('enable k3s-agent.service (is not-found)');
  });

  it('start/restart are live-only: skipped with a reason, enablement still managed', async () => {
    const ctx = makeContext({ root });
    const restart = await serviceModule.check(serviceModule.args.parse({ name: 'ssh', state: 'reloaded' }), ctx);
    expect(restart).toEqual({ status: 'skip', reason: 'state reloaded: not live (--root, or systemd not running)' });
    const started = await convergeLoop(serviceModule, { name: 'ssh', enabled: true, state: 'started' }, ctx);
    expect(started.reason).toBe('enable ssh.service (is disabled); state started: not live (--root, or systemd not running)');
  });

  it.each<[unknown, string | null]>([
    [{ name: 'iscsid', state: 'started', noBlock: true }, null],
    [{ name: 'iscsid', enabled: true, noBlock: true }, 'noBlock'],
    [{ name: 'iscsid', state: 'restarted', noBlock: true }, 'noBlock'],
    [{ name: 'iscsid', state: 'started', noBlock: 'yes' }, 'noBlock'],
  ])('noBlock: %j → error at %s', (input, path) => {
    const r = serviceModule.args.safeParse(input);
    expect(r.success ? null : r.error.issues[0]!.path.join('.')).toBe(path);
  });

  it('refuses args without enabled or state', () => {
    expect(serviceModule.args.safeParse({ name: 'ssh' }).success).toBe(false);
    expect(serviceModule.args.safeParse({ name: 'ssh; rm -rf /', enabled: true }).success).toBe(false);
  });
});

describe('systemctl show parsing (live state, one batched call)', () => {
  it('maps blocks to units in argument order', () => {
    const out = 'Id=ssh.service\nActiveState=active\nUnitFileState=enabled\n\nId=k3s-agent.service\nActiveState=inactive\nUnitFileState=\n\nId=systemd-journald.service\nActiveState=active\nUnitFileState=static';
    const m = parseShow(out, ['ssh.service', 'k3s-agent.service', 'systemd-journald.service']);
    expect(Object.fromEntries(m)).toEqual({
      'ssh.service': { fileState: 'enabled', activeState: 'active' },
      'k3s-agent.service': { fileState: 'not-found', activeState: 'inactive' },
      'systemd-journald.service': { fileState: 'static', activeState: 'active' },
    });
  });

  it('reads a queued job (Job=<id>) and no job (Job= or 0)', () => {
    const out = 'Id=a.service\nActiveState=inactive\nUnitFileState=enabled\nJob=17\n\nId=b.service\nActiveState=inactive\nUnitFileState=enabled\nJob=\n\nId=c.service\nActiveState=active\nUnitFileState=enabled\nJob=0';
    expect(Object.fromEntries(parseShow(out, ['a.service', 'b.service', 'c.service']))).toEqual({
      'a.service': { fileState: 'enabled', activeState: 'inactive', job: true },
      'b.service': { fileState: 'enabled', activeState: 'inactive' },
      'c.service': { fileState: 'enabled', activeState: 'active' },
    });
  });

  it('reads when the running main process started (0 = none)', () => {
    const out = 'Id=a.service\nActiveState=active\nUnitFileState=enabled\nJob=\nExecMainStartTimestampMonotonic=53019283\n\nId=b.service\nActiveState=inactive\nUnitFileState=enabled\nJob=\nExecMainStartTimestampMonotonic=0';
    expect(Object.fromEntries(parseShow(out, ['a.service', 'b.service']))).toEqual({
      'a.service': { fileState: 'enabled', activeState: 'active', mainStartedUs: 53019283 },
      'b.service': { fileState: 'enabled', activeState: 'inactive' },
    });
  });
});

describe('live check decisions (state as the batched read left it in ctx.facts; check only reads)', () => {
  it.each([
    [{ state: 'started' }, 'active', 'enabled', 'ok', undefined],
    [{ state: 'started' }, 'inactive', 'enabled', 'change', 'start'],
    [{ state: 'stopped' }, 'failed', 'enabled', 'ok', undefined],
    [{ state: 'stopped' }, 'active', 'enabled', 'change', 'stop'],
    [{ state: 'restarted' }, 'active', 'enabled', 'change', 'restart'],
    [{ state: 'restarted' }, 'inactive', 'enabled', 'ok', undefined],
    [{ state: 'reloaded' }, 'activating', 'static', 'change', 'reload'],
    [{ enabled: true, state: 'started' }, 'active', 'disabled', 'change', undefined],
    // At boot: systemd is bringing the unit up already (a converge that raced it reported drift).
    [{ state: 'started' }, 'activating', 'enabled', 'ok', undefined],
    [{ state: 'started' }, 'inactive\nJob=42', 'enabled', 'ok', undefined],
    [{ state: 'started' }, 'inactive\nJob=', 'enabled', 'change', 'start'],
    [{ state: 'started' }, 'deactivating\nJob=43', 'enabled', 'change', 'start'],
  ])('%j with %s/%s → %s', async (extra, activeState, fileState, status, action) => {
    // The live facts come from a recorded `systemctl show` answer, never from this machine's manager.
    const asked: string[][] = [];
    const show: Exec = Object.assign(
      async (cmd: string, argv: readonly string[]) => {
        asked.push([cmd, ...argv]);
        return { exitCode: 0, stdout: `Id=ssh.service\nActiveState=${activeState}\nUnitFileState=${fileState}\n`, stderr: '' };
      },
      { count: () => asked.length },
    );
    const ctx = makeContext({ root: '/', live: true, checkMode: true, factSources: { exec: show } });
    const a = serviceModule.args.parse({ name: 'ssh', ...extra });
    await serviceModule.prepare!([a], ctx);
    const r = await serviceModule.check(a, ctx);
    expect(r.status).toBe(status);
    const verbs = r.status === 'change' ? r.actions.flatMap((x) => (x.kind === 'systemctl' && x.verb !== 'enable' ? [x.verb] : [])) : [];
    expect(verbs).toEqual(action ? [{ start: 'start', stop: 'stop', restart: 'try-restart', reload: 'try-reload-or-restart' }[action]] : []);
    expect(asked).toEqual([['systemctl', 'show', '-p', 'Id,ActiveState,UnitFileState,Job,ExecMainStartTimestampMonotonic', '--', 'ssh.service']]);
    expect(ctx.exec.count()).toBe(0);
  });

  it('noBlock: the start is queued (awaited at the batch end, engine/apply.ts); the enable needs no reload of its own', async () => {
    const show: Exec = Object.assign(async () => ({ exitCode: 0, stdout: 'Id=iscsid.service\nActiveState=inactive\nUnitFileState=disabled\nJob=\n', stderr: '' }), { count: () => 0 });
    const ctx = makeContext({ root: '/', live: true, checkMode: true, factSources: { exec: show } });
    const a = serviceModule.args.parse({ name: 'iscsid', enabled: true, state: 'started', noBlock: true });
    const r = await serviceModule.check(a, ctx);
    expect(r.status === 'change' && r.actions).toEqual([
      { kind: 'systemctl', verb: 'enable', unit: 'iscsid.service' },
      { kind: 'daemon-reload' },
      { kind: 'systemctl', verb: 'start', unit: 'iscsid.service', noBlock: true },
    ]);
  });
});
