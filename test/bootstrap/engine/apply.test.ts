import { describe, expect, it } from 'vitest';
import type { Action } from '../../../src/bootstrap/actions.js';
import { applyPlan } from '../../../src/bootstrap/engine/apply.js';
import type { PlannedTask } from '../../../src/bootstrap/engine/plan.js';
import { makeContext } from '../../helpers/context.js';

// The batch's end: enablements reloaded once, --no-block starts awaited, a unit that did not come
// up failing the task that queued its start. systemctl is a recorder here; the e2e's first boot
// runs the same path against the real systemd (iscsid).
const planned = (name: string, actions: Action[]): PlannedTask =>
  ({ task: { name, module: { name: 'service' }, notify: [] }, args: {}, durationMs: 0, check: { status: 'change', reason: name, actions } }) as unknown as PlannedTask;

function live(failing: string[] = []) {
  const ctx = makeContext({ root: '/', live: true, checkMode: false });
  const calls: string[] = [];
  ctx.exec = Object.assign(
    async (cmd: string, args: readonly string[], opts: { allowFailure?: boolean } = {}) => {
      const line = [cmd, ...args].join(' ');
      calls.push(line);
      const bad = failing.includes(line);
      // As the real exec: a non-zero exit throws unless the caller takes it.
      if (bad && !opts.allowFailure) throw new Error(`${line} exited 1: Job failed.`);
      return { exitCode: bad ? 1 : 0, stdout: '', stderr: bad ? 'Job failed.\n' : '' };
    },
    { count: () => calls.length },
  );
  return { ctx, calls };
}

describe('applyPlan settles the batch', () => {
  const plan = [
    planned('iscsid enabled and started', [
      { kind: 'systemctl', verb: 'enable', unit: 'iscsid.service' },
      { kind: 'daemon-reload' },
      { kind: 'systemctl', verb: 'start', unit: 'iscsid.service', noBlock: true },
    ]),
    planned('open-iscsi enabled', [{ kind: 'systemctl', verb: 'enable', unit: 'open-iscsi.service' }]),
    planned('k3s started', [{ kind: 'systemctl', verb: 'start', unit: 'k3s-agent.service' }]),
  ];

  it('one reload for both enables, after every task; the queued start awaited after it', async () => {
    const { ctx, calls } = live();
    const out = await applyPlan(plan, ctx);
    expect(out.map((o) => o.status)).toEqual(['changed', 'changed', 'changed']);
    expect(calls).toEqual([
      'systemctl enable --no-reload -- iscsid.service',
      'systemctl start --no-block -- iscsid.service',
      'systemctl enable --no-reload -- open-iscsi.service',
      'systemctl start -- k3s-agent.service',
      'systemctl daemon-reload',
      'systemctl start -- iscsid.service',
    ]);
  });

  it('a queued start that fails fails the task that queued it, not a later one', async () => {
    const { ctx } = live(['systemctl start -- iscsid.service']);
    const out = await applyPlan(plan, ctx);
    expect(out.map((o) => o.status)).toEqual(['failed', 'changed', 'changed']);
    expect(out[0]!.reason).toBe('iscsid.service did not come up: systemctl start exited 1: Job failed.');
  });

  it('a failed reload fails the last task that enabled a unit', async () => {
    const { ctx } = live(['systemctl daemon-reload']);
    const out = await applyPlan(plan, ctx);
    expect(out.map((o) => o.status)).toEqual(['changed', 'failed', 'changed']);
    expect(out[1]!.reason).toMatch(/systemctl daemon-reload exited 1/);
  });

  it('check mode settles nothing', async () => {
    const { ctx, calls } = live();
    ctx.checkMode = true;
    expect((await applyPlan(plan, ctx)).every((o) => o.planned)).toBe(true);
    expect(calls).toEqual([]);
  });
});
