import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHumanFormatter, wantsColor } from '../../../src/bootstrap/output/human.js';
import { exampleManifestText, tempRoot } from '../../helpers/context.js';
import { BUNDLE, ensureBundle } from '../bundle.js';
import { makeSysroot } from '../sysroot.js';

const TOKEN = /token: (\S+)/.exec(exampleManifestText)![1]!;
const NODE_PASSWORD = /nodePassword: (\S+)/.exec(exampleManifestText)![1]!;
const ESC = '\x1b[';

function formatted(events: object[], o: { color?: boolean; diff?: boolean } = {}): { out: string; err: string } {
  let out = '';
  let err = '';
  const f = createHumanFormatter({ color: o.color ?? false, diff: o.diff ?? false, out: (s) => (out += s), err: (s) => (err += s) });
  for (const e of events) f(JSON.stringify(e));
  return { out, err };
}

describe('terminal view of the events', () => {
  const events = [
    { kind: 'start', version: '1.0.0', mode: 'check', root: '/', manifest: '/boot/firmware/metis/node.yaml' },
    { kind: 'task', task: 'hostname', status: 'ok' },
    { kind: 'task', task: 'journald', status: 'changed', planned: true, reason: 'content differ', diff: [{ target: '/etc/j.conf', before: 'a\n', after: 'b\n' }], actions: ['write /etc/j.conf mode 0644: 2 bytes'] },
    { kind: 'task', task: 'k3s', status: 'failed', reason: '/usr/local/bin/k3s is missing' },
    { kind: 'task', task: 'grow', status: 'skipped', reason: 'not live' },
    { kind: 'recap', summary: { ok: 1, changed: 1, failed: 1, skipped: 1 }, durationMs: 1234 },
  ];

  it('a line per task with its status and reason, then the recap', () => {
    const { out } = formatted(events);
    expect(out.split('\n')).toEqual([
      'metis-bootstrap 1.0.0 check (nothing changes) on / from /boot/firmware/metis/node.yaml',
      '',
      'ok: [hostname]',
      'would change: [journald] content differ',
      'failed: [k3s] /usr/local/bin/k3s is missing',
      'skipped: [grow] not live',
      '',
      'RECAP ok=1 changed=1 failed=1 skipped=1  (1.2s)',
      '',
    ]);
  });

  it('reboot required and what --reboot-if-required did, before the recap', () => {
    const { out } = formatted([
      { kind: 'reboot-required', level: 40, msg: 'reboot required: /boot/firmware/config.txt changed' },
      { kind: 'reboot', level: 40, msg: 'loop guard: already rebooted once for this manifest' },
    ]);
    expect(out).toBe('reboot required: /boot/firmware/config.txt changed\nreboot: loop guard: already rebooted once for this manifest\n');
  });

  it('--diff adds the diff and the actions under a change', () => {
    const { out } = formatted(events, { diff: true });
    expect(out).toContain('would change: [journald] content differ\n    --- /etc/j.conf\n    +++ /etc/j.conf\n    -a\n    +b\n    > write /etc/j.conf mode 0644: 2 bytes\n');
  });

  it('colour only when asked; errors go to stderr', () => {
    expect(formatted(events).out).not.toContain(ESC);
    expect(formatted(events, { color: true }).out).toContain(`${ESC}31mfailed:`);
    expect(formatted([{ kind: 'error', level: 50, msg: 'bad manifest' }]).err).toBe('error: bad manifest\n');
  });

  it.each([
    [{ isTTY: true, hasColors: () => true }, {}, true],
    [{ isTTY: true, hasColors: () => true }, { NO_COLOR: '1' }, false],
    [{ isTTY: true, hasColors: () => true }, { NO_COLOR: '' }, true],
    [{ isTTY: true, hasColors: () => true }, { TERM: 'dumb' }, false],
    [{ isTTY: false, hasColors: () => true }, {}, false],
    [{ isTTY: true, hasColors: () => false }, {}, false],
  ])('wantsColor(%j, %j) = %s', (stream, env, want) => {
    expect(wantsColor(stream, env)).toBe(want);
  });
});

/** Runs the bundle on a pseudo-terminal (script(1)), as `ssh node metis-bootstrap --check` does. */
function onTty(args: string[], env: Record<string, string>): { code: number; out: string } {
  const cmd = ['node', BUNDLE, ...args].join(' ');
  // An operator's `ssh node` session has none of these; CI runners set CI, and Node's hasColors()
  // then reports a 2-colour terminal, so a test that inherits it could never see colour.
  const dropped = ['NO_COLOR', 'FORCE_COLOR', 'NODE_DISABLE_COLORS', 'CI', 'CONTINUOUS_INTEGRATION', 'BUILD_NUMBER', 'RUN_ID'];
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !dropped.includes(k)));
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 60_000, env: { ...clean, TERM: 'xterm-256color', ...env } });
  return { code: r.status ?? -1, out: r.stdout };
}

describe('metis-bootstrap output: a person on a terminal, JSON for journald and pipes', () => {
  const { root, cleanup } = tempRoot('metis-out-');
  const manifest = `${root}.yaml`;
  const outputs: string[] = [];
  beforeAll(() => {
    ensureBundle();
    makeSysroot(root);
    writeFileSync(manifest, exampleManifestText);
  });
  afterAll(() => {
    cleanup();
    rmSync(manifest, { force: true });
  });
  const base = ['--root', root, '--manifest', manifest];

  it('on a TTY: task lines with status, diffs with --diff, the recap, colour; no JSON', () => {
    const r = onTty([...base, '--check', '--diff'], {});
    outputs.push(r.out);
    expect(r.code).toBe(2);
    const plain = r.out.replace(/\x1b\[[0-9;]*m/g, '').replace(/\r/g, '');
    expect(plain).toMatch(/^would change: \[hostname\] \/etc\/hostname content differ/m);
    expect(plain).toMatch(/^skipped: \[root filesystem fills the card\] grow \/: not live/m);
    expect(plain).toContain('    -debian\n    +titan-13\n');
    expect(plain).toContain('    > write /etc/hostname mode 0644: 9 bytes');
    expect(plain).toMatch(/^RECAP ok=\d+ changed=\d+ failed=0 skipped=\d+/m);
    expect(r.out).toContain(ESC);
    expect(plain).not.toContain('{"level"');
  });

  it('NO_COLOR on a TTY: the same lines without colour', () => {
    const r = onTty([...base, '--check'], { NO_COLOR: '1' });
    outputs.push(r.out);
    expect(r.out).toMatch(/would change: \[hostname\]/);
    expect(r.out).not.toContain(ESC);
  });

  it('--log-format json on a TTY, and any run whose stdout is not a TTY: pino JSON lines', () => {
    const tty = onTty([...base, '--check', '--log-format', 'json'], {});
    const pipe = spawnSync('node', [BUNDLE, ...base, '--check'], { encoding: 'utf8', timeout: 60_000 });
    outputs.push(tty.out, pipe.stdout, pipe.stderr);
    for (const out of [tty.out, pipe.stdout]) {
      const lines = out.replace(/\r/g, '').trim().split('\n');
      for (const l of lines) expect(() => JSON.parse(l), l).not.toThrow();
      expect(JSON.parse(lines.at(-1)!)).toMatchObject({ kind: 'recap', msg: expect.stringMatching(/^ok=\d+ changed=\d+ failed=0 skipped=\d+$/) });
      const task = lines.map((l) => JSON.parse(l)).find((e) => e.kind === 'task' && e.task === 'hostname');
      expect(task).toMatchObject({ status: 'changed', planned: true, msg: 'would change: hostname' });
    }
  });

  it('--check on an image without k3s is a failure (exit 4, failed=1), not drift', () => {
    expect(spawnSync('node', [BUNDLE, ...base], { stdio: 'ignore', timeout: 120_000 }).status).toBe(2); // converge first
    rmSync(join(root, 'usr/local/bin/k3s'));
    const r = onTty([...base, '--check'], { NO_COLOR: '1' });
    outputs.push(r.out);
    expect(r.code, r.out).toBe(4);
    expect(r.out).toMatch(/failed: \[k3s config, token and unit\] \/usr\/local\/bin\/k3s is missing/);
    expect(r.out).toMatch(/RECAP ok=\d+ changed=0 failed=1 skipped=\d+/);
  });

  it('no secret in any of the outputs', () => {
    const all = outputs.join('\n');
    expect(all.length).toBeGreaterThan(2000);
    expect(all.split(TOKEN).length - 1).toBe(0);
    expect(all.split(NODE_PASSWORD).length - 1).toBe(0);
  });
});
