import type { Report } from './report.js';

/** Line diff (LCS) of small config files, for --diff; long inputs fall back to whole before/after. */
export function lineDiff(before: string | null, after: string | null): string[] {
  const a = before === null ? [] : before.replace(/\n$/, '').split('\n');
  const b = after === null ? [] : after.replace(/\n$/, '').split('\n');
  if (a.length * b.length > 4_000_000) return [...a.map((l) => `-${l}`), ...b.map((l) => `+${l}`)];
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push(` ${a[i]}`);
      i++;
      j++;
    } else if (i < a.length && (j === b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) out.push(`-${a[i++]}`);
    else out.push(`+${b[j++]}`);
  }
  return out;
}

/** The report's diffs as text (already redacted in the report). */
export function formatDiffs(report: Report): string {
  const parts: string[] = [];
  for (const t of report.tasks) {
    for (const d of t.diff ?? []) {
      parts.push(`--- ${d.target} (${t.name})`, `+++ ${d.target}`, ...lineDiff(d.before, d.after));
    }
  }
  return parts.length ? `${parts.join('\n')}\n` : '';
}
