import { Writable } from 'node:stream';
import { lineDiff } from '../diff-text.js';
import type { DiffEntry } from '../types.js';

/**
 * The terminal view of a run, as Ansible prints a play: one line per task with its status and
 * reason, the diff and the planned actions under it with --diff, then the recap line. It formats
 * the same structured events the JSON log carries (after redaction: nothing secret reaches it),
 * one formatter per event kind.
 */

export interface HumanOptions {
  color: boolean;
  /** Print diffs and actions under each changed task. */
  diff: boolean;
  out: (s: string) => void;
  err: (s: string) => void;
}

interface TaskEvent {
  kind: 'task';
  task: string;
  status: 'ok' | 'changed' | 'failed' | 'skipped';
  planned?: boolean;
  reason?: string;
  handler?: boolean;
  diff?: DiffEntry[];
  actions?: string[];
  facts?: Record<string, unknown>;
}
type Event =
  | { kind: 'start'; version: string; mode: string; root: string; manifest: string }
  | TaskEvent
  | { kind: 'recap'; summary: { ok: number; changed: number; failed: number; skipped: number }; durationMs: number }
  | { kind: 'error'; msg: string }
  | { kind: 'reboot-required' | 'reboot'; msg: string }
  | { kind: 'failed' };

const SGR = { red: 31, green: 32, yellow: 33, cyan: 36, dim: 2, bold: 1 } as const;

export function createHumanFormatter(o: HumanOptions): (line: string) => void {
  const paint = (c: keyof typeof SGR, s: string) => (o.color ? `\x1b[${SGR[c]}m${s}\x1b[0m` : s);
  const statusColor = { ok: 'green', changed: 'yellow', failed: 'red', skipped: 'cyan' } as const;
  return (line) => {
    let e: Event;
    try {
      e = JSON.parse(line);
    } catch {
      return;
    }
    switch (e.kind) {
      case 'start':
        o.out(`${paint('bold', `metis-bootstrap ${e.version}`)} ${e.mode === 'check' ? 'check (nothing changes)' : 'apply'} on ${e.root} from ${e.manifest}\n\n`);
        break;
      case 'task': {
        const word = e.planned ? 'would change' : e.status;
        const head = `${paint(statusColor[e.status], `${word}:`)} [${e.task}]${e.handler ? ' (handler)' : ''}`;
        o.out(`${head}${e.reason ? ` ${e.status === 'ok' ? paint('dim', e.reason) : e.reason}` : ''}\n`);
        if (e.facts) for (const [k, v] of Object.entries(e.facts)) o.out(`    ${paint('dim', `${k}:`)} ${typeof v === 'string' ? v : JSON.stringify(v)}\n`);
        if (o.diff && e.status === 'changed') {
          for (const d of e.diff ?? []) {
            o.out(`    ${paint('bold', `--- ${d.target}`)}\n    ${paint('bold', `+++ ${d.target}`)}\n`);
            for (const l of lineDiff(d.before, d.after)) o.out(`    ${l.startsWith('+') ? paint('green', l) : l.startsWith('-') ? paint('red', l) : l}\n`);
          }
          for (const a of e.actions ?? []) o.out(`    ${paint('cyan', `> ${a}`)}\n`);
        }
        break;
      }
      case 'recap': {
        const s = e.summary;
        const parts = [
          paint(s.ok ? 'green' : 'dim', `ok=${s.ok}`),
          paint(s.changed ? 'yellow' : 'dim', `changed=${s.changed}`),
          paint(s.failed ? 'red' : 'dim', `failed=${s.failed}`),
          paint(s.skipped ? 'cyan' : 'dim', `skipped=${s.skipped}`),
        ];
        o.out(`\n${paint('bold', 'RECAP')} ${parts.join(' ')}  ${paint('dim', `(${(e.durationMs / 1000).toFixed(1)}s)`)}\n`);
        break;
      }
      case 'error':
        o.err(`${paint('red', 'error:')} ${e.msg}\n`);
        break;
      // Boot files changed (docs/pi-boot.md): the node runs with them only after a reboot.
      case 'reboot-required':
      case 'reboot':
        o.out(e.kind === 'reboot' ? `${paint('yellow', 'reboot:')} ${e.msg}\n` : `${paint('yellow', e.msg)}\n`);
        break;
      default: {
        // Other events (a task's failure detail, preflight, commands at debug) are in the task line or JSON only.
        const other = e as { kind?: string; level?: number; msg?: string };
        if ((other.level ?? 0) >= 50 && other.kind !== 'failed' && other.msg) o.err(`${paint('red', 'error:')} ${other.msg}\n`);
      }
    }
  };
}

/** A pino destination that prints the events for a person instead of JSON. */
export function humanStream(o: HumanOptions): Writable {
  const format = createHumanFormatter(o);
  let rest = '';
  return new Writable({
    write(chunk, _enc, cb) {
      const lines = (rest + String(chunk)).split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) if (l) format(l);
      cb();
    },
    final(cb) {
      if (rest) format(rest);
      cb();
    },
  });
}

/** Colour only for a terminal that has it: not with NO_COLOR (no-color.org), not TERM=dumb. */
export function wantsColor(stream: { isTTY?: boolean; hasColors?: () => boolean }, env: NodeJS.ProcessEnv): boolean {
  if (!stream.isTTY) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return stream.hasColors?.() ?? true;
}
