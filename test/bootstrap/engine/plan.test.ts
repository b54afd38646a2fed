import { z } from 'zod';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CHECK_WINDOW, checkTasks, type RenderedTask } from '../../../src/bootstrap/engine/plan.js';
import type { LoadedTask } from '../../../src/bootstrap/engine/load-tasks.js';
import { parseWhen } from '../../../src/bootstrap/engine/when.js';
import type { CheckResult, Module } from '../../../src/bootstrap/types.js';
import { makeContext, tempRoot } from '../../helpers/context.js';

let root: string;
let cleanup: () => void;
beforeEach(() => ({ root, cleanup } = tempRoot('metis-plan-')));
afterEach(() => cleanup());

/** Checks that end when the test says so, and a log of what was in flight when each one started. */
function gate() {
  const running = new Set<string>();
  const starts: Array<{ id: string; with: string[] }> = [];
  const release = new Map<string, (r: CheckResult) => void>();
  const fail = new Map<string, (e: Error) => void>();
  const mod = (name: string, exclusiveCheck = false): Module<{ id: string }> => ({
    name,
    args: z.object({ id: z.string() }),
    exclusiveCheck,
    check: (a) =>
      new Promise<CheckResult>((resolve, reject) => {
        starts.push({ id: a.id, with: [...running] });
        running.add(a.id);
        release.set(a.id, (r) => (running.delete(a.id), resolve(r)));
        fail.set(a.id, (e) => (running.delete(a.id), reject(e)));
      }),
  });
  return { running, starts, release, fail, mod };
}

const task = (module: Module, id: string, index: number, when?: string): RenderedTask => ({
  task: { file: 'tasks/t.yaml', line: index + 1, index, name: `task ${id}`, module, args: {}, when: when ? parseWhen(when) : undefined, whenSrc: when, notify: [], tags: [], where: `tasks/t.yaml:${index + 1} (task ${id})` } as LoadedTask,
  args: { id },
});

const tick = () => new Promise((r) => setTimeout(r, 5));
/** Lets pending checks start, then releases each running one (ok) until the plan settles. */
async function drain(g: ReturnType<typeof gate>, plan: Promise<unknown>): Promise<void> {
  let done = false;
  void plan.then(() => (done = true), () => (done = true));
  for (let i = 0; i < 200 && !done; i++) {
    await tick();
    for (const id of [...g.running]) g.release.get(id)!({ status: 'ok' });
  }
}

describe('the plan checks tasks side by side', () => {
  it(`runs up to ${CHECK_WINDOW} checks at once and keeps the tasks' order in the plan`, async () => {
    const g = gate();
    const m = g.mod('slow');
    const tasks = ['a', 'b', 'c', 'd', 'e', 'f'].map((id, i) => task(m, id, i));
    const plan = checkTasks(tasks, makeContext({ root }), {});
    await tick();
    // The window is full and the fifth waits for one of them.
    expect([...g.running].sort()).toEqual(['a', 'b', 'c', 'd']);
    g.release.get('c')!({ status: 'change', reason: 'c', actions: [] });
    await tick();
    expect([...g.running].sort()).toEqual(['a', 'b', 'd', 'e']);
    await drain(g, plan);
    const out = await plan;
    expect(out.map((p) => p.task.name)).toEqual(['task a', 'task b', 'task c', 'task d', 'task e', 'task f']);
    expect(out.map((p) => p.check.status)).toEqual(['ok', 'ok', 'change', 'ok', 'ok', 'ok']);
    expect(Math.max(...g.starts.map((s) => s.with.length + 1))).toBe(CHECK_WINDOW);
  });

  it('a when-false task is skipped in place; an exclusive check (command) runs alone', async () => {
    const g = gate();
    const m = g.mod('slow');
    const cmd = g.mod('command', true);
    const tasks = [task(m, 'a', 0), task(m, 'b', 1), task(m, 'skip', 2, 'k3s'), task(cmd, 'cmd', 3), task(m, 'c', 4)];
    const plan = checkTasks(tasks, makeContext({ root }), {});
    await drain(g, plan);
    const out = await plan;
    expect(out.map((p) => p.check.status)).toEqual(['ok', 'ok', 'skip', 'ok', 'ok']);
    expect(out[2]!.check.reason).toBe('when: k3s is false');
    // Nothing else in flight when the command's check started, and it had ended when c started.
    expect(g.starts.find((s) => s.id === 'cmd')!.with).toEqual([]);
    expect(g.starts.find((s) => s.id === 'c')!.with).toEqual([]);
    expect(g.starts.map((s) => s.id)).toEqual(['a', 'b', 'cmd', 'c']);
  });

  it('two checks throw: the plan fails with the first in task order, after every check ended', async () => {
    const g = gate();
    const m = g.mod('slow');
    const tasks = ['a', 'b', 'c', 'd'].map((id, i) => task(m, id, i));
    const plan = checkTasks(tasks, makeContext({ root }), {});
    plan.catch(() => {});
    await tick();
    // d fails first in time, b later: the error names b, as a serial plan would.
    g.fail.get('d')!(new Error('d broke'));
    await tick();
    g.fail.get('b')!(new Error('b broke'));
    await tick();
    let settled = false;
    void plan.then(() => (settled = true), () => (settled = true));
    await tick();
    // a and c are still reading: the plan waits for them before it fails.
    expect(settled).toBe(false);
    g.release.get('a')!({ status: 'ok' });
    g.release.get('c')!({ status: 'ok' });
    await expect(plan).rejects.toMatchObject({ code: 'E_CHECK', message: expect.stringMatching(/task b.*check failed: b broke/) });
  });
});
