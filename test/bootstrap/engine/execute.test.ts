import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeAction, type Action } from '../../../src/bootstrap/actions.js';
import type { Exec } from '../../../src/bootstrap/exec.js';
import { executeActions, settleActions } from '../../../src/bootstrap/engine/execute.js';
import { makeContext } from '../../helpers/context.js';
import { useSysroot } from '../sysroot.js';

let root: string;
useSysroot('metis-execute-', (r) => (root = r));
/** A file under the test's root, its directories made. */
const put = (path: string, text: string) => {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
};

/**
 * Records commands instead of running them (for live-only verbs; this machine's manager is never
 * asked). `failing`: command line → its stderr, exit 1. `showEnv`: a SYSTEMCTL_SKIP_SYSV=1 prefix.
 */
function recorder(o: { failing?: Record<string, string>; showEnv?: boolean } = {}): { exec: Exec; calls: string[] } {
  const calls: string[] = [];
  const exec = Object.assign(
    async (cmd: string, args: readonly string[], opts: { env?: Record<string, string> } = {}) => {
      const line = [cmd, ...args].join(' ');
      calls.push(`${o.showEnv && opts.env?.SYSTEMCTL_SKIP_SYSV ? 'SYSTEMCTL_SKIP_SYSV=1 ' : ''}${line}`);
      const stderr = o.failing?.[line];
      return { exitCode: stderr === undefined ? 0 : 1, stdout: '', stderr: stderr ?? '' };
    },
    { count: () => calls.length },
  );
  return { exec, calls };
}

/** The policy under test on the test's temp root: pretend live, with a recorder instead of this machine's systemctl. */
function pretendLive(o: Parameters<typeof recorder>[0] = {}) {
  const ctx = makeContext({ root });
  ctx.live = true;
  const { exec, calls } = recorder(o);
  ctx.exec = exec;
  return { ctx, calls };
}

describe('the engine carries out actions through ctx', () => {
  it('files under the root: write (atomic, mode, owner), mkdir, chmod, chown, rename, remove', async () => {
    const ctx = makeContext({ root });
    await executeActions(
      [
        { kind: 'mkdir', path: '/srv/a', mode: 0o750 },
        { kind: 'write', path: '/srv/a/f', content: 'x\n', mode: 0o640, uid: 1000, gid: 0 },
        { kind: 'write', path: '/srv/a/g', content: 'y\n', mode: 0o644 },
        { kind: 'chmod', path: '/srv/a/g', mode: 0o600 },
        { kind: 'chown', path: '/srv/a/g', uid: 1000, gid: 1000 },
        { kind: 'rename', from: '/srv/a/g', to: '/srv/a/h' },
        { kind: 'remove', path: '/srv/a/f' },
      ],
      ctx,
    );
    expect(statSync(join(root, 'srv/a')).mode & 0o7777).toBe(0o750);
    expect(existsSync(join(root, 'srv/a/f'))).toBe(false);
    const h = statSync(join(root, 'srv/a/h'));
    expect([h.mode & 0o7777, h.uid, h.gid]).toEqual([0o600, 1000, 1000]);
    expect(readFileSync(join(root, 'srv/a/h'), 'utf8')).toBe('y\n');
  });

  it('run: argv, okCodes, and stdout as a fact; a bad exit fails with the command', async () => {
    const ctx = makeContext({ root });
    expect(await executeActions([{ kind: 'run', argv: ['echo', 'fp'], fact: 'fingerprint' }], ctx)).toEqual({ fingerprint: 'fp' });
    await executeActions([{ kind: 'run', argv: ['false'], okCodes: [0, 1] }], ctx);
    await expect(executeActions([{ kind: 'run', argv: ['ls', '/nope-x'] }], ctx)).rejects.toThrow(/ls \/nope-x exited 2/);
  });

  it('generated content is chosen when the action runs and reported, a secret one only by where it is', async () => {
    const ctx = makeContext({ root });
    const facts = await executeActions(
      [
        { kind: 'write', path: '/etc/machine-id', content: { generate: 'machine-id' }, mode: 0o444, fact: 'machineId' },
        { kind: 'write', path: '/etc/pw', content: { generate: 'password' }, mode: 0o600, secret: true, fact: 'password' },
      ],
      ctx,
    );
    expect(readFileSync(join(root, 'etc/machine-id'), 'utf8')).toBe(`${facts.machineId}\n`);
    expect(facts.password).toBe('generated (kept in /etc/pw)');
    expect(JSON.stringify(facts)).not.toContain(readFileSync(join(root, 'etc/pw'), 'utf8').trim());
  });

  it('a state action writes 0600 in the state dir, outside the managed root’s paths', async () => {
    const ctx = makeContext({ root, stateDir: join(root, 'state') });
    await executeActions([{ kind: 'state', file: 'owned.json', content: '{}\n' }], ctx);
    expect(statSync(join(root, 'state/owned.json')).mode & 0o777).toBe(0o600);
  });

  it('daemon-reload: live only, only after a unit file or fstab changed, once per batch of changes', async () => {
    const offline = makeContext({ root });
    await executeActions([{ kind: 'daemon-reload' }], offline);
    expect(offline.exec.count()).toBe(0);

    const ctx = makeContext({ root: '/', live: true, checkMode: false });
    const { exec, calls } = recorder();
    ctx.exec = exec;
    await executeActions([{ kind: 'daemon-reload' }, { kind: 'systemctl', verb: 'try-restart', unit: 'ssh.service' }], ctx);
    expect(calls).toEqual(['systemctl try-restart -- ssh.service']);
    ctx.fs.written.push('/etc/systemd/system/k3s-agent.service', '/etc/hostname');
    await executeActions([{ kind: 'systemctl', verb: 'enable', unit: 'k3s-agent.service' }, { kind: 'daemon-reload' }, { kind: 'systemctl', verb: 'start', unit: 'k3s-agent.service' }, { kind: 'daemon-reload' }], ctx);
    ctx.fs.written.push('/etc/fstab');
    await executeActions([{ kind: 'systemctl', verb: 'start', unit: 'x.service' }], ctx);
    expect(calls).toEqual([
      'systemctl try-restart -- ssh.service',
      'systemctl enable --no-reload -- k3s-agent.service',
      'systemctl daemon-reload',
      'systemctl start -- k3s-agent.service',
      'systemctl daemon-reload',
      'systemctl start -- x.service',
    ]);
  });

  it('enablement: no reload per enable; one reload at the batch end (settle), none when nothing was enabled', async () => {
    const ctx = makeContext({ root: '/', live: true, checkMode: false });
    const { exec, calls } = recorder();
    ctx.exec = exec;
    expect(await settleActions(ctx)).toEqual(new Map());
    expect(calls).toEqual([]);
    await executeActions([{ kind: 'systemctl', verb: 'enable', unit: 'iscsid.service' }, { kind: 'daemon-reload' }, { kind: 'systemctl', verb: 'start', unit: 'iscsid.service' }], ctx);
    await executeActions([{ kind: 'systemctl', verb: 'disable', unit: 'old.service' }], ctx);
    expect(calls).toEqual(['systemctl enable --no-reload -- iscsid.service', 'systemctl start -- iscsid.service', 'systemctl disable --no-reload -- old.service']);
    expect(await settleActions(ctx)).toEqual(new Map());
    expect(await settleActions(ctx)).toEqual(new Map());
    expect(calls.slice(3)).toEqual(['systemctl daemon-reload']);
    // A unit file written since: its reload before a start covers the enablement too.
    await executeActions([{ kind: 'systemctl', verb: 'enable', unit: 'a.service' }], ctx);
    ctx.fs.written.push('/etc/systemd/system/a.service');
    await executeActions([{ kind: 'systemctl', verb: 'start', unit: 'a.service' }], ctx);
    await settleActions(ctx);
    expect(calls.slice(4)).toEqual(['systemctl enable --no-reload -- a.service', 'systemctl daemon-reload', 'systemctl start -- a.service']);
    // A drop-in written and no start after it: the batch's end reloads it.
    ctx.fs.written.push('/etc/systemd/system/k3s-agent.service.d/metis-mounts.conf');
    await settleActions(ctx);
    expect(calls.slice(7)).toEqual(['systemctl daemon-reload']);
  });

  it('enable/disable of a unit with a native file skip the SysV hooks (update-rc.d); a SysV-only service keeps them', async () => {
    put('lib/systemd/system/iscsid.service', '[Service]\nExecStart=/sbin/iscsid\n');
    put('etc/init.d/iscsid', '#!/bin/sh\n');
    put('etc/init.d/legacy', '#!/bin/sh\n');
    const { ctx, calls: seen } = pretendLive({ showEnv: true });
    await executeActions([{ kind: 'systemctl', verb: 'enable', unit: 'iscsid.service' }, { kind: 'systemctl', verb: 'disable', unit: 'legacy.service' }], ctx);
    expect(seen).toEqual(['SYSTEMCTL_SKIP_SYSV=1 systemctl enable --no-reload -- iscsid.service', 'systemctl disable --no-reload -- legacy.service']);
  });

  it('--no-block starts are queued, then awaited by settle (a blocking start joins the queued job); a failed one is named', async () => {
    const ctx = makeContext({ root: '/', live: true, checkMode: false });
    const { exec, calls } = recorder({ failing: { 'systemctl start -- bad.service': 'Job for bad.service failed because the control process exited with error code.\n' } });
    ctx.exec = exec;
    await executeActions([{ kind: 'systemctl', verb: 'start', unit: 'iscsid.service', noBlock: true }, { kind: 'systemctl', verb: 'start', unit: 'bad.service', noBlock: true }], ctx);
    expect(calls).toEqual(['systemctl start --no-block -- iscsid.service', 'systemctl start --no-block -- bad.service']);
    const failed = await settleActions(ctx);
    expect(calls.slice(2).sort()).toEqual(['systemctl start -- bad.service', 'systemctl start -- iscsid.service']);
    expect([...failed]).toEqual([['bad.service', 'bad.service did not come up: systemctl start exited 1: Job for bad.service failed because the control process exited with error code.']]);
    expect(await settleActions(ctx)).toEqual(new Map());
    expect(calls).toHaveLength(4);
  });

  it('daemon-reload also follows a removed or renamed unit file or drop-in, not only a write', async () => {
    put('etc/systemd/system/k3s-agent.service.d/metis-mounts.conf', '[Unit]\nRequiresMountsFor=/var/lib/longhorn\n');
    put('etc/systemd/system/old.service', '[Service]\nExecStart=/bin/true\n');
    put('etc/motd', 'hi\n');
    const { ctx, calls } = pretendLive();
    await executeActions([{ kind: 'remove', path: '/etc/motd' }, { kind: 'daemon-reload' }], ctx);
    expect(calls).toEqual([]);
    await executeActions([{ kind: 'remove', path: '/etc/systemd/system/k3s-agent.service.d/metis-mounts.conf' }, { kind: 'daemon-reload' }, { kind: 'daemon-reload' }], ctx);
    expect(calls).toEqual(['systemctl daemon-reload']);
    await executeActions([{ kind: 'rename', from: '/etc/systemd/system/old.service', to: '/etc/systemd/system/old.service.metis-disabled' }, { kind: 'systemctl', verb: 'start', unit: 'x.service' }], ctx);
    expect(calls).toEqual(['systemctl daemon-reload', 'systemctl daemon-reload', 'systemctl start -- x.service']);
    expect(existsSync(join(root, 'etc/systemd/system/k3s-agent.service.d/metis-mounts.conf'))).toBe(false);
  });

  it('live-only verbs refuse a system that is not live; enable works on a sysroot', async () => {
    const ctx = makeContext({ root });
    await expect(executeActions([{ kind: 'systemctl', verb: 'start', unit: 'ssh.service' }], ctx)).rejects.toThrow(/needs a live system/);
    await executeActions([{ kind: 'systemctl', verb: 'enable', unit: 'ssh.service' }], ctx);
    expect(existsSync(join(root, 'etc/systemd/system/multi-user.target.wants/ssh.service'))).toBe(true);
  });

  it('check mode never carries out actions', async () => {
    const ctx = makeContext({ root, checkMode: true });
    await expect(ctx.execute([{ kind: 'remove', path: '/etc/hostname' }])).rejects.toThrow(/check mode/);
    expect(existsSync(join(root, 'etc/hostname'))).toBe(true);
  });
});

describe('describeAction: what --check --diff prints', () => {
  it.each<[Action, string]>([
    [{ kind: 'write', path: '/etc/a', content: 'abc', mode: 0o644 }, 'write /etc/a mode 0644: 3 bytes'],
    [{ kind: 'write', path: '/etc/t', content: 'K10secret', mode: 0o600, secret: true }, 'write /etc/t mode 0600: [redacted]'],
    [{ kind: 'write', path: '/etc/s', content: 'x', mode: 0o644, uid: 0, gid: 0, validate: { sshd: true } }, 'write /etc/s mode 0644 owner 0:0: 1 bytes (validated: sshd -t on the whole config)'],
    [{ kind: 'write', path: '/etc/machine-id', content: { generate: 'machine-id' }, mode: 0o444 }, 'write /etc/machine-id mode 0444: generated machine-id'],
    [{ kind: 'run', argv: ['sfdisk', '-N', '2', '/dev/mmcblk0'], input: ', +\n' }, 'run sfdisk -N 2 /dev/mmcblk0 (with input)'],
    [{ kind: 'run', argv: ['ssh-keygen', '-N', '', '-C', 'a b'] }, "run ssh-keygen -N '' -C 'a b'"],
    [{ kind: 'rename', from: '/a', to: '/b' }, 'rename /a -> /b'],
    [{ kind: 'daemon-reload' }, 'systemctl daemon-reload (if a unit file changed)'],
    [{ kind: 'systemctl', verb: 'start', unit: 'iscsid.service', noBlock: true }, 'systemctl start --no-block iscsid.service (its start awaited before the handlers)'],
  ])('%j', (a, text) => {
    expect(describeAction(a)).toBe(text);
  });
});

describe('parallel groups', () => {
  it('run at the same time, each in order; facts merged; the first failing group fails the action after all ended', async () => {
    const ctx = makeContext({ root });
    const flag = join(root, 'srv/flag');
    // Group 1 waits (bounded, 10 s) for a file group 2 writes: it can only succeed if they overlap.
    const waitFor = ['sh', '-c', `for i in $(seq 100); do [ -e '${flag}' ] && exit 0; sleep 0.1; done; exit 1`];
    const facts = await executeActions(
      [
        {
          kind: 'parallel',
          groups: [
            [
              { kind: 'run', argv: waitFor },
              { kind: 'write', path: '/srv/p1', content: 'one\n', mode: 0o644 },
              { kind: 'run', argv: ['cat', join(root, 'srv/p1')], fact: 'one' },
            ],
            [
              { kind: 'write', path: '/srv/flag', content: '\n', mode: 0o644 },
              { kind: 'run', argv: ['echo', 'two'], fact: 'two' },
            ],
          ],
        },
      ],
      ctx,
    );
    expect(facts).toEqual({ one: 'one', two: 'two' });
    const failing: Action = {
      kind: 'parallel',
      groups: [[{ kind: 'run', argv: ['false'] }], [{ kind: 'run', argv: ['sleep', '0.2'] }, { kind: 'write', path: '/srv/p2', content: 'x\n', mode: 0o644 }]],
    };
    await expect(executeActions([failing], ctx)).rejects.toThrow(/false exited 1/);
    // The other group ran to its end before the failure was reported.
    expect(readFileSync(join(root, 'srv/p2'), 'utf8')).toBe('x\n');
    expect(describeAction(failing)).toBe('at the same time: (run false) | (run sleep 0.2; write /srv/p2 mode 0644: 2 bytes)');
  });
});
