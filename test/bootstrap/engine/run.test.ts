import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { assetsFrom } from '../../../src/bootstrap/assets.js';
import { exitCodeFor, run, type RunMemo, type RunOptions } from '../../../src/bootstrap/engine/run.js';
import { PENDING_FILE } from '../../../src/bootstrap/engine/handlers.js';
import { acquireLock } from '../../../src/bootstrap/lock.js';
import { modules } from '../../../src/bootstrap/modules/index.js';
import type { Module } from '../../../src/bootstrap/types.js';
import { exampleManifestText, tempRoot } from '../../helpers/context.js';
import { hashTree, makeSysroot } from '../sysroot.js';

/** Test stand-in module: appends a line to a file on every apply (check always says change). */
const appendLine: Module<{ file: string; line: string }> = {
  name: 'append_line',
  args: z.strictObject({ file: z.string(), line: z.string() }),
  check: async (a) => ({ status: 'change', reason: `append to ${a.file}`, actions: [] }),
  apply: async (a, ctx) => {
    const cur = (await ctx.fs.readText(a.file)) ?? '';
    await ctx.fs.write(a.file, `${cur}${a.line}\n`);
  },
};
/** Test stand-in module: a plan whose command's output is a fact (as ssh-keygen -l gives a fingerprint). */
const learn: Module<{ word: string }> = {
  name: 'learn',
  args: z.strictObject({ word: z.string() }),
  check: async (a) => ({ status: 'change', reason: 'learn a word', actions: [{ kind: 'run', argv: ['echo', a.word], fact: 'word' }] }),
};
/** Test stand-in module: can never succeed here (an image without the binary it needs). */
const cannot: Module<Record<string, never>> = {
  name: 'cannot',
  args: z.strictObject({}),
  check: async () => ({ status: 'fail', reason: 'the image lacks /usr/local/bin/thing' }),
};
const testModules = { ...modules, append_line: appendLine, learn, cannot };

let root: string;
let cleanup: () => void;
let manifestPath: string;
let logs: string[];

beforeEach(() => {
  ({ root, cleanup } = tempRoot('metis-engine-'));
  makeSysroot(root);
  manifestPath = join(root, 'node.yaml');
  writeFileSync(manifestPath, exampleManifestText);
  logs = [];
});
afterEach(() => cleanup());

function opts(files: Record<string, string>, extra: Partial<RunOptions> = {}): RunOptions {
  const logDest = new Writable({ write: (c, _e, cb) => (logs.push(String(c)), cb()) });
  return { root, manifestPath, checkMode: false, assets: assetsFrom(files), modules: testModules, logDest, ...extra };
}

const writeTask = (name: string, dest: string, content: string, more = '') =>
  `- name: ${name}\n  file:\n    dest: ${dest}\n    content: "${content}"\n${more}`;
const read = (p: string) => readFileSync(join(root, p), 'utf8');

describe('run: plan before apply', () => {
  it.each([
    ['a render error', writeTask('later', '/etc/b', '{{node.nope}}')],
    ['a check error', `- name: later\n  file: { dest: /etc, content: x }\n`],
    ['an args error after rendering', `- name: later\n  directory: { path: "{{node.hostname}}" }\n`],
  ])('%s in a later task means the first task changed nothing', async (_l, later) => {
    // The state dir is Metis's own (lock, report), not the managed system.
    const before = hashTree(root, ['var/lib/metis']);
    const report = await run(opts({ 'tasks/10-a.yaml': writeTask('first', '/etc/a', 'x'), 'tasks/20-b.yaml': later }));
    expect(exitCodeFor(report)).toBe(1);
    expect(report.error).toMatch(/tasks\/20-b\.yaml/);
    expect(existsSync(join(root, 'etc/a'))).toBe(false);
    expect(hashTree(root, ['var/lib/metis'])).toEqual(before);
  });

  it('an apply failure stops later tasks, reports 6 when something changed too', async () => {
    const report = await run(
      opts({
        'tasks/10-a.yaml': writeTask('first', '/etc/a', 'x') + writeTask('bad', '/etc/b', 'y', '    validate: ["false", "%s"]\n') + writeTask('third', '/etc/c', 'z'),
      }),
    );
    expect(report.tasks.map((t) => `${t.name}:${t.status}`)).toEqual(['first:changed', 'bad:failed', 'third:skipped']);
    expect(report.tasks[1]!.reason).toMatch(/false .* exited 1/);
    expect(exitCodeFor(report)).toBe(6);
    expect(existsSync(join(root, 'etc/b'))).toBe(false);
    expect(existsSync(join(root, 'etc/c'))).toBe(false);
  });

  it('what apply learns (facts) reaches the report; check mode carries out nothing', async () => {
    const files = { 'tasks/10-a.yaml': `- name: learn\n  learn: { word: fingerprint-1 }\n` };
    const checked = await run(opts(files, { checkMode: true }));
    expect(checked.tasks[0]).toMatchObject({ status: 'changed', planned: true, actions: ['run echo fingerprint-1'] });
    expect(checked.tasks[0]!.facts).toBeUndefined();
    const applied = await run(opts(files));
    expect(applied.tasks[0]).toMatchObject({ status: 'changed', facts: { word: 'fingerprint-1' } });
    expect(applied.tasks[0]!.planned).toBeUndefined();
    expect(JSON.parse(read('var/lib/metis/last-run.json')).tasks[0].facts).toEqual({ word: 'fingerprint-1' });
  });

  it('a check that cannot succeed is failed in --check too (exit 4, not drift), and stops later changes in apply', async () => {
    const files = { 'tasks/10-a.yaml': `- name: thing\n  cannot: {}\n` + writeTask('after', '/etc/after', 'x') };
    const checked = await run(opts(files, { checkMode: true }));
    expect(checked.tasks.map((t) => `${t.name}:${t.status}`)).toEqual(['thing:failed', 'after:changed']);
    expect(checked.summary).toEqual({ ok: 0, changed: 1, failed: 1, skipped: 0 });
    expect(exitCodeFor(checked)).toBe(6);
    const applied = await run(opts(files));
    expect(applied.tasks.map((t) => `${t.name}:${t.status}`)).toEqual(['thing:failed', 'after:skipped']);
    expect(exitCodeFor(applied)).toBe(4);
    expect(existsSync(join(root, 'etc/after'))).toBe(false);
  });

  it('exit codes: 2 changed, 0 converged, 4 failed only', async () => {
    const files = { 'tasks/10-a.yaml': writeTask('first', '/etc/a', 'x') };
    expect(exitCodeFor(await run(opts(files)))).toBe(2);
    const again = await run(opts(files));
    expect(exitCodeFor(again)).toBe(0);
    expect(again.summary).toEqual({ ok: 1, changed: 0, failed: 0, skipped: 0 });
    const failing = { 'tasks/10-a.yaml': writeTask('bad', '/etc/z', 'y', '    validate: ["false", "%s"]\n') };
    expect(exitCodeFor(await run(opts(failing)))).toBe(4);
  });

  it('when and tags select tasks', async () => {
    const files = {
      'tasks/10-a.yaml':
        writeTask('agent only', '/etc/agent', 'a', '  when: k3s.role == "agent"\n') +
        writeTask('server only', '/etc/server', 's', '  when: k3s.role == "server"\n') +
        writeTask('early one', '/etc/early', 'e', '  tags: [early]\n'),
    };
    const early = await run(opts(files, { tags: ['early'] }));
    expect(early.tasks.map((t) => t.name)).toEqual(['early one']);
    const all = await run(opts(files));
    expect(all.tasks.map((t) => `${t.name}:${t.status}`)).toEqual(['agent only:changed', 'server only:skipped', 'early one:ok']);
    expect(all.tasks[1]!.reason).toBe('when: k3s.role == "server" is false');
  });
});

describe('run: handlers', () => {
  const handlers = `- name: h1\n  append_line: { file: /var/log/h1, line: ran }\n- name: h2\n  append_line: { file: /var/log/h2, line: ran }\n`;

  it('run once each, in handlers.yaml order, only when notified by a change', async () => {
    const files = {
      'tasks/10-a.yaml': writeTask('a', '/etc/a', 'x', '  notify: [h2, h1]\n') + writeTask('b', '/etc/b', 'y', '  notify: [h2]\n'),
      'tasks/handlers.yaml': handlers,
    };
    const first = await run(opts(files));
    expect(first.tasks.filter((t) => t.handler).map((t) => `${t.name}:${t.status}`)).toEqual(['h1:changed', 'h2:changed']);
    expect(read('var/log/h1')).toBe('ran\n');
    expect(read('var/log/h2')).toBe('ran\n');
    const second = await run(opts(files));
    expect(second.tasks.filter((t) => t.handler)).toEqual([]);
    expect(read('var/log/h2')).toBe('ran\n');
  });

  it('are persisted when a task fails and run by the next run', async () => {
    const failing = {
      'tasks/10-a.yaml': writeTask('a', '/etc/a', 'x', '  notify: [h1]\n') + writeTask('bad', '/etc/b', 'y', '    validate: ["false", "%s"]\n'),
      'tasks/handlers.yaml': handlers,
    };
    const r1 = await run(opts(failing));
    expect(exitCodeFor(r1)).toBe(6);
    expect(r1.tasks.find((t) => t.name === 'h1')?.status).toBe('skipped');
    expect(existsSync(join(root, 'var/log/h1'))).toBe(false);
    expect(JSON.parse(read(`var/lib/metis/${PENDING_FILE}`))).toEqual(['h1']);

    const fixed = { 'tasks/10-a.yaml': writeTask('a', '/etc/a', 'x', '  notify: [h1]\n'), 'tasks/handlers.yaml': handlers };
    const r2 = await run(opts(fixed));
    expect(r2.tasks.map((t) => `${t.name}:${t.status}`)).toEqual(['a:ok', 'h1:changed']);
    expect(read('var/log/h1')).toBe('ran\n');
    expect(existsSync(join(root, `var/lib/metis/${PENDING_FILE}`))).toBe(false);
  });
});

describe("run: the boot run's early handlers wait for the full run", () => {
  const handlers = `- name: h1\n  append_line: { file: /var/log/h1, line: ran }\n- name: h2\n  append_line: { file: /var/log/h2, line: ran }\n`;
  const files = {
    'tasks/10-a.yaml': writeTask('a', '/etc/a', 'x', '  notify: [h1]\n  tags: [early]\n') + writeTask('b', '/etc/b', 'y', '  notify: [h2]\n'),
    'tasks/handlers.yaml': handlers,
  };

  it('handlersLater: the early change notifies h1; it is pending (with its time in the memo) until the full run runs it once, after h2 order', async () => {
    const memo: RunMemo = {};
    const early = await run(opts(files, { tags: ['early'], memo, handlersLater: true }));
    expect(early.tasks.map((t) => `${t.name}:${t.status}`)).toEqual(['a:changed']);
    expect(existsSync(join(root, 'var/log/h1'))).toBe(false);
    // A boot that never reaches its full run loses nothing: the next run finds it pending.
    expect(JSON.parse(read(`var/lib/metis/${PENDING_FILE}`))).toEqual(['h1']);
    expect([...memo.handlers!.notified]).toEqual(['h1']);
    expect(memo.handlers!.since.get('h1')).toBeGreaterThan(0);

    const full = await run(opts(files, { memo }));
    expect(full.tasks.map((t) => `${t.name}:${t.status}`)).toEqual(['a:ok', 'b:changed', 'h1:changed', 'h2:changed']);
    expect(read('var/log/h1')).toBe('ran\n');
    expect(existsSync(join(root, `var/lib/metis/${PENDING_FILE}`))).toBe(false);
    expect(memo.handlers).toBeUndefined();
  });

  it('without handlersLater an early run runs its own handlers (metis-bootstrap --tags early)', async () => {
    const early = await run(opts(files, { tags: ['early'] }));
    expect(early.tasks.map((t) => `${t.name}:${t.status}`)).toEqual(['a:changed', 'h1:changed']);
    expect(existsSync(join(root, `var/lib/metis/${PENDING_FILE}`))).toBe(false);
  });

  it('check mode: deferred the same way, nothing written', async () => {
    const memo: RunMemo = {};
    const before = hashTree(root, ['var/lib/metis']);
    const early = await run(opts(files, { tags: ['early'], memo, handlersLater: true, checkMode: true }));
    expect(early.tasks.map((t) => `${t.name}:${t.status}`)).toEqual(['a:changed']);
    const full = await run(opts(files, { memo, checkMode: true }));
    expect(full.tasks.map((t) => `${t.name}:${t.status}`)).toEqual(['a:changed', 'b:changed', 'h1:changed', 'h2:changed']);
    expect(hashTree(root, ['var/lib/metis'])).toEqual(before);
  });
});

describe('run: check mode, lock, report', () => {
  const files = { 'tasks/10-a.yaml': writeTask('a', '/etc/a', 'x', '  notify: [h1]\n'), 'tasks/handlers.yaml': `- name: h1\n  append_line: { file: /var/log/h1, line: ran }\n` };

  it('--check reports drift (exit 2) and writes nothing but the report', async () => {
    const before = hashTree(root, ['var/lib/metis']);
    const report = await run(opts(files, { checkMode: true }));
    expect(report.mode).toBe('check');
    expect(exitCodeFor(report)).toBe(2);
    expect(report.tasks.map((t) => `${t.name}:${t.status}`)).toEqual(['a:changed', 'h1:changed']);
    expect(hashTree(root, ['var/lib/metis'])).toEqual(before);
    expect(JSON.parse(read('var/lib/metis/last-run.json')).mode).toBe('check');
  });

  it('a held lock refuses a second apply (exit 1); --check runs beside it; a lock file nobody holds is taken', async () => {
    const held = await acquireLock(join(root, 'var/lib/metis'));
    const locked = await run(opts(files));
    expect(exitCodeFor(locked)).toBe(1);
    expect(locked.error).toMatch(/another metis-bootstrap \(pid \d+\) is applying/);
    expect(existsSync(join(root, 'etc/a'))).toBe(false);
    expect(exitCodeFor(await run(opts(files, { checkMode: true })))).toBe(2);
    await held.release();

    writeFileSync(join(root, 'var/lib/metis/lock'), '999999999\n');
    expect(exitCodeFor(await run(opts(files)))).toBe(2);
    expect(readFileSync(join(root, 'var/lib/metis/lock'), 'utf8')).toBe('');
  });

  it('writes last-run.json with the report shape and keeps 10 in history', async () => {
    for (let i = 0; i < 12; i++) await run(opts(files, { checkMode: true }));
    const report = JSON.parse(read('var/lib/metis/last-run.json'));
    expect(Object.keys(report)).toEqual(['version', 'mode', 'manifestHash', 'manifestPath', 'startedAt', 'durationMs', 'phases', 'summary', 'tasks', 'node']);
    expect(report.node).toMatchObject({ status: 'skipped' }); // no k3s has run in this root (docs/fleet.md)
    expect(report.manifestHash).toMatch(/^[0-9a-f]{64}$/);
    // Per-phase timings (a boot-time budget is measured with them); each a number of ms within the run's duration.
    expect(Object.keys(report.phases)).toEqual(['loadMs', 'factsMs', 'planMs', 'applyMs', 'handlersMs']);
    for (const ms of Object.values(report.phases) as number[]) expect(ms).toBeGreaterThanOrEqual(0);
    expect((Object.values(report.phases) as number[]).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(report.durationMs + 1);
    expect(report.tasks[0]).toMatchObject({
      name: 'a',
      module: 'file',
      status: 'changed',
      planned: true,
      diff: [{ target: '/etc/a', before: null, after: 'x' }],
      actions: ['write /etc/a mode 0644: 1 bytes'],
    });
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(join(root, 'var/lib/metis/runs'))).toHaveLength(10);
    expect(logs.join('')).toContain('ok=0 changed=2 failed=0 skipped=0');
  });

  it('a bad manifest is exit 1 naming the field, nothing written', async () => {
    writeFileSync(manifestPath, exampleManifestText.replace('port: 2277', 'port: "many"'));
    const before = hashTree(root);
    const report = await run(opts(files));
    expect(exitCodeFor(report)).toBe(1);
    expect(report.error).toMatch(/ssh\.port/);
    expect(hashTree(root)).toEqual(before);
  });
});

describe('run: secrets never leave redaction', () => {
  it('a token rendered into a file, a diff, a failing command and a log is found 0 times in any output', async () => {
    const token = /token: (\S+)/.exec(exampleManifestText)![1]!;
    const files = {
      'tasks/10-a.yaml':
        writeTask('token file', '/etc/token', '{{k3s.token}}', '    mode: "0600"\n') +
        writeTask('token in a failing validate', '/etc/t2', 'x', '    validate: ["false", "{{k3s.token}}", "%s"]\n'),
    };
    const check = await run(opts(files, { checkMode: true }));
    const apply = await run(opts(files));
    expect(exitCodeFor(apply)).toBe(6);
    expect(readFileSync(join(root, 'etc/token'), 'utf8')).toBe(token);
    const { formatDiffs } = await import('../../../src/bootstrap/diff-text.js');
    const state = readFileSync(join(root, 'var/lib/metis/last-run.json'), 'utf8');
    const all = [logs.join(''), JSON.stringify(check), JSON.stringify(apply), formatDiffs(check), formatDiffs(apply), state].join('\n');
    expect(all).toContain('[redacted]');
    expect(all.split(token).length - 1).toBe(0);
  });
});

describe('run: secrets scrubbed from the card', () => {
  const files = { 'tasks/10-a.yaml': writeTask('token file', '/etc/token', '{{k3s.token}}', '    mode: "0600"\n') };
  const token = /token: (\S+)/.exec(exampleManifestText)![1]!;

  it('are restored from STATE/secrets.json before validation', async () => {
    writeFileSync(manifestPath, exampleManifestText.replace(token, 'metis:scrubbed'));
    mkdirSync(join(root, 'var/lib/metis'), { recursive: true });
    writeFileSync(join(root, 'var/lib/metis/secrets.json'), JSON.stringify({ 'k3s.token': token }));
    const report = await run(opts(files));
    expect(exitCodeFor(report)).toBe(2);
    expect(read('etc/token')).toBe(token);
  });

  it('missing from the store: exit 1 naming the field, nothing changed', async () => {
    writeFileSync(manifestPath, exampleManifestText.replace(token, 'metis:scrubbed'));
    const report = await run(opts(files));
    expect(exitCodeFor(report)).toBe(1);
    expect(report.error).toMatch(/k3s\.token was scrubbed/);
    expect(existsSync(join(root, 'etc/token'))).toBe(false);
  });
});
