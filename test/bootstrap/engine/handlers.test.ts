import { describe, expect, it } from 'vitest';
import { coveredByStart } from '../../../src/bootstrap/engine/handlers.js';
import type { PlannedTask } from '../../../src/bootstrap/engine/plan.js';
import { serviceModule } from '../../../src/bootstrap/modules/service.js';
import type { Context } from '../../../src/bootstrap/types.js';

// The decision only: which restart/reload handlers a start after the notifying change makes moot.
// The unit start times are what systemd's `ExecMainStartTimestampMonotonic` reports (the e2e's
// first boot exercises it against the real systemd: k3s and iscsid are not restarted again).
const planned = (name: string, actions: unknown[]): PlannedTask =>
  ({ task: { name, module: { name: 'service' } }, args: {}, durationMs: 0, check: { status: 'change', reason: 'refresh', actions } }) as unknown as PlannedTask;
const refresh = (unit: string, verb = 'try-restart') => ({ kind: 'systemctl', verb, unit });
const ctxWith = (started: Record<string, number | undefined>, live = true) =>
  ({ live, facts: { unit: async (u: string) => ({ fileState: 'enabled', activeState: 'active', ...(started[u] ? { mainStartedUs: started[u] } : {}) }) } }) as unknown as Context;

describe('handlers a later start already covered', () => {
  const plan = [
    planned('restart k3s', [refresh('k3s-agent.service')]),
    planned('restart iscsid', [refresh('iscsid.service')]),
    planned('reload sshd', [refresh('ssh.service', 'try-reload-or-restart')]),
    planned('restart journald', [refresh('systemd-journald.service')]),
    planned('pending from an earlier run', [refresh('k3s-agent.service')]),
    planned('mixed', [refresh('k3s-agent.service'), { kind: 'write', path: '/x', content: '', mode: 0o644 }]),
  ];
  const since = new Map([
    ['restart k3s', 1000],
    ['restart iscsid', 1000],
    ['reload sshd', 1000],
    ['restart journald', 1000],
    ['mixed', 1000],
  ]);

  it.each([
    ['restart k3s', 'ok'],
    // Started by systemd (socket activation) before the change: restarted.
    ['restart iscsid', 'change'],
    ['reload sshd', 'ok'],
    // No main process start known: restarted.
    ['restart journald', 'change'],
    ['pending from an earlier run', 'change'],
    ['mixed', 'change'],
  ])('%s → %s', async (name, status) => {
    const out = await coveredByStart(plan, ctxWith({ 'k3s-agent.service': 2000, 'iscsid.service': 900, 'ssh.service': 1500 }), since);
    const p = out.find((x) => x.task.name === name)!;
    expect(p.check.status).toBe(status);
    if (status === 'ok') expect((p.check as { reason: string }).reason).toMatch(/started after the change that notified this handler/);
  });

  // The plan as the service module makes it (a daemon-reload before the refresh), not a hand-made one:
  // a first boot's handlers were never judged moot while the reload counted as another change.
  it.each([
    ['iscsid.service', 'restarted', 2000, 'ok'],
    ['iscsid.service', 'restarted', 900, 'change'],
    ['ssh.service', 'reloaded', 1500, 'ok'],
    ['ssh.service', 'reloaded', undefined, 'change'],
  ] as const)('the service module\'s own plan: %s %s, started at %s → %s', async (unit, state, startedAt, status) => {
    const ctx = ctxWith({ [unit]: startedAt });
    const args = serviceModule.args.parse({ name: unit, state });
    const check = await serviceModule.check(args, ctx);
    expect(check.status).toBe('change');
    expect((check as { actions: { kind: string }[] }).actions.map((a) => a.kind)).toContain('daemon-reload');
    const p = { task: { name: 'h', module: serviceModule }, args, durationMs: 0, check } as unknown as PlannedTask;
    const [out] = await coveredByStart([p], ctx, new Map([['h', 1000]]));
    expect(out!.check.status).toBe(status);
  });

  it('changes nothing on a system that is not live', async () => {
    const out = await coveredByStart(plan, ctxWith({ 'k3s-agent.service': 2000 }, false), since);
    expect(out).toBe(plan);
  });
});
