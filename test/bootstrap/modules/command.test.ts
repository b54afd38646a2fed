import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeAction } from '../../../src/bootstrap/actions.js';
import { commandModule } from '../../../src/bootstrap/modules/command.js';
import { convergeLoop, exampleManifest, makeContext } from '../../helpers/context.js';
import { addChrootBinaries } from '../chroot-bins.js';
import { useSysroot } from '../sysroot.js';

let root: string;
useSysroot('hhk-cmd-', (r) => {
  root = r;
  addChrootBinaries(r, ['/usr/bin/dash', '/usr/bin/env', '/usr/bin/touch', '/usr/bin/rm', '/usr/bin/test', '/usr/bin/grep']);
});

const token = () => exampleManifest().k3s!.token;

describe('command module: argv in the managed root, with Ansible guards', () => {
  it('creates: check → change, apply (runs inside the root), check → ok; --check never runs the argv', async () => {
    const raw = { argv: ['/usr/bin/touch', '/etc/fan-done'], creates: '/etc/fan-done' };
    const dry = makeContext({ root, checkMode: true });
    const planned = await commandModule.check(commandModule.args.parse(raw), dry);
    expect(planned.status).toBe('change');
    expect(existsSync(join(root, 'etc/fan-done'))).toBe(false);
    const first = await convergeLoop(commandModule, raw, makeContext({ root }));
    expect(first.actions.map(describeAction)).toEqual(['run /usr/bin/touch /etc/fan-done']);
    expect(first.reason).toMatch(/\/etc\/fan-done missing/);
    expect(existsSync(join(root, 'etc/fan-done'))).toBe(true);
  });

  it('removes: runs only while the path exists', async () => {
    const raw = { argv: ['/usr/bin/rm', '/etc/old-flag'], removes: '/etc/old-flag' };
    const args = commandModule.args.parse(raw);
    expect(await commandModule.check(args, makeContext({ root }))).toEqual({ status: 'ok', reason: '/etc/old-flag does not exist' });
    writeFileSync(join(root, 'etc/old-flag'), '');
    await convergeLoop(commandModule, raw, makeContext({ root }));
    expect(existsSync(join(root, 'etc/old-flag'))).toBe(false);
  });

  it('check decides: exit 0 is ok, non-zero runs the command; chdir and env reach both', async () => {
    mkdirSync(join(root, 'opt/fan'), { recursive: true });
    const raw = {
      argv: '/usr/bin/touch "state-$MODE"',
      shell: true,
      check: '/usr/bin/test -e "state-$MODE"',
      chdir: '/opt/fan',
      env: { MODE: 'quiet' },
    };
    const first = await convergeLoop(commandModule, raw, makeContext({ root }));
    expect(first.reason).toMatch(/check exited 1/);
    expect(first.actions.map(describeAction)).toEqual([`run /bin/sh -c '/usr/bin/touch "state-$MODE"' (in /opt/fan) (env: MODE)`]);
    expect(existsSync(join(root, 'opt/fan/state-quiet'))).toBe(true);
  });

  it('a secret reaches the command through env, never argv, plan, report or log', async () => {
    const ctx = makeContext({ root });
    const raw = {
      argv: ['/bin/sh', '-c', 'echo "$K3S_TOKEN" > /etc/token-copy'],
      creates: '/etc/token-copy',
      env: { K3S_TOKEN: { secret: 'k3s.token' } },
    };
    const first = await convergeLoop(commandModule, raw, ctx);
    expect(readFileSync(join(root, 'etc/token-copy'), 'utf8').trim()).toBe(token());
    const printed = JSON.stringify(first) + first.actions.map(describeAction).join('\n') + ctx.logs();
    expect(printed).not.toContain(token());
    expect(printed).toContain('K3S_TOKEN=[secret k3s.token]');
  });

  it('refuses a secret in argv, and an env secret path the manifest does not have', async () => {
    const ctx = makeContext({ root });
    const inArgv = await commandModule.check(commandModule.args.parse({ argv: ['/usr/bin/touch', `/tmp/${token()}`] }), ctx);
    expect(inArgv).toMatchObject({ status: 'fail', reason: expect.stringMatching(/secret value is in the command line/) });
    const unknown = await commandModule.check(commandModule.args.parse({ argv: ['/usr/bin/true'], env: { X: { secret: 'k3s.nope' } } }), ctx);
    expect(unknown).toMatchObject({ status: 'fail', reason: expect.stringMatching(/env X: "k3s.nope" is not a secret of the manifest \(secrets: .*k3s.token/) });
  });

  it('a check that cannot run fails the task instead of counting as drift', async () => {
    const r = await commandModule.check(commandModule.args.parse({ argv: ['/usr/bin/true'], check: ['/usr/bin/no-such-check'] }), makeContext({ root, checkMode: true }));
    expect(r).toMatchObject({ status: 'fail', reason: expect.stringMatching(/could not run \(exit 127/) });
  });

  it('a command that leaves its check unmet fails: it would run every converge', async () => {
    const ctx = makeContext({ root });
    const args = commandModule.args.parse({ argv: ['/usr/bin/touch', '/etc/a'], check: ['/usr/bin/test', '-e', '/etc/b'] });
    const c = await commandModule.check(args, ctx);
    expect(c.status).toBe('change');
    const r = await commandModule.apply!(args, ctx, c as never);
    expect(r).toEqual({ failed: 'ran, but check still exits 1: it would run again every converge' });
  });

  it('without a guard it runs every converge, and says so', async () => {
    const c = await commandModule.check(commandModule.args.parse({ argv: ['/usr/bin/true'] }), makeContext({ root, checkMode: true }));
    expect(c).toMatchObject({ status: 'change', reason: 'run /usr/bin/true (no creates/removes/check: runs every converge)' });
  });

  it('a failing command fails with its exit and stderr, redacted', async () => {
    const ctx = makeContext({ root });
    const args = commandModule.args.parse({ argv: ['/usr/bin/grep', 'x', '/etc/nope'] });
    const c = await commandModule.check(args, ctx);
    await expect(commandModule.apply!(args, ctx, c as never)).rejects.toThrow(/exited 2: .*No such file/);
  });

  it.each([
    [{ argv: 'touch /x' }, 'argv', /shell command: give an argv list, or set shell: true/],
    [{ argv: ['touch', '/x'], shell: true }, 'argv', /with shell: true, give one command string/],
    [{ argv: ['true'], check: 'test -e /x' }, 'check', /shell command/],
    [{ argv: [] }, 'argv', /./],
    [{ argv: ['true'], creates: 'relative' }, 'creates', /absolute path/],
    [{ argv: ['true'], env: { 'BAD-NAME': 'x' } }, 'env.BAD-NAME', /environment variable name/],
    [{ argv: ['true'], env: { X: { secret: '' } } }, 'env.X.secret', /./],
    [{ argv: ['true'], timeout: 0 }, 'timeout', /./],
    [{ argv: ['true'], cmd: 'x' }, '', /unrecognized key/i],
  ])('schema: %j → error at %s', (input, path, message) => {
    const r = commandModule.args.safeParse(input);
    expect(r.success).toBe(false);
    const issue = r.error!.issues.find((i) => i.path.join('.') === path || (path === 'argv' && i.path[0] === 'argv'));
    expect(issue, JSON.stringify(r.error!.issues)).toBeDefined();
    expect(issue!.message).toMatch(message);
  });
});
