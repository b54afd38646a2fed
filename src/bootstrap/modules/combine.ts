import type { Action, CheckResult, DiffEntry } from '../types.js';

/**
 * Several checks of one task as one result: the first `fail` wins; else every change's actions
 * in order, diffs and reasons joined; else ok (with the reasons given, if any).
 */
export function combine(parts: CheckResult[], extra: { actions?: Action[]; diff?: DiffEntry[]; reasons?: string[] } = {}): CheckResult {
  const fail = parts.find((p) => p.status === 'fail');
  if (fail) return fail;
  const actions: Action[] = [];
  const diff: DiffEntry[] = [];
  const reasons: string[] = [];
  for (const p of parts) {
    if (p.status !== 'change') continue;
    actions.push(...p.actions);
    diff.push(...(p.diff ?? []));
    reasons.push(p.reason);
  }
  actions.push(...(extra.actions ?? []));
  diff.push(...(extra.diff ?? []));
  reasons.push(...(extra.reasons ?? []));
  if (actions.length === 0) return { status: 'ok' };
  return { status: 'change', reason: reasons.join('; '), diff, actions };
}
