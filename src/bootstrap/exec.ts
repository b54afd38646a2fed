import type { Logger } from 'pino';
import type { Redactor } from '../lib/redact.js';
import { MetisError } from '../lib/errors.js';

export interface ExecOptions {
  input?: string | Buffer;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Return a non-zero exit instead of throwing. Default false: non-zero throws E_EXEC. */
  allowFailure?: boolean;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface Exec {
  (cmd: string, args: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** How many processes this run spawned (reported by benchmarks). */
  readonly count: () => number;
}

/** Commands taking at least this long are logged at info level (kind cmd-slow). */
const SLOW_MS = 1000;

/** The one way the bootstrap starts a process: argv arrays only, never a shell; every command and its output pass the redactor before logging. */
export function createExec(log: Logger, redact: Redactor): Exec {
  let spawned = 0;
  const run = async (cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> => {
    spawned++;
    const shown = redact.text([cmd, ...args].join(' '));
    // No input: the child gets no stdin at all, so one that prompts (ssh-keygen overwrite?,
    // sfdisk) fails at once instead of waiting for its timeout.
    const stdin = opts.input === undefined ? { stdin: 'ignore' as const } : { input: opts.input };
    const t0 = performance.now();
    // execa is loaded on the first spawn, not with the engine: a no-op boot's early phase spawns
    // nothing, and execa with node's child_process, tty and v8 modules is part of node's start-up
    // under emulation (docs/bootstrap.md, "Boot time").
    const { execa } = await import('execa');
    const r = await execa(cmd, args, {
      ...stdin,
      env: opts.env,
      timeout: opts.timeoutMs ?? 120_000,
      reject: false,
      stripFinalNewline: true,
    });
    const exitCode = r.exitCode ?? (r.failed ? 127 : 0);
    const ms = Math.round(performance.now() - t0);
    // A command that holds the run up for a second or more is worth a line in the journal: where a
    // slow boot's time went (the e2e's boot timings list them).
    if (ms >= SLOW_MS) log.info({ kind: 'cmd-slow', cmd: shown, exitCode, ms }, `slow command: ${shown} (${(ms / 1000).toFixed(1)} s)`);
    else log.debug({ kind: 'cmd', cmd: shown, exitCode, ms }, 'exec');
    if (exitCode !== 0 && !opts.allowFailure) {
      const stderr = redact.text(String(r.stderr ?? '')).trim().slice(0, 2000);
      throw new MetisError('E_EXEC', `${shown} exited ${exitCode}${r.timedOut ? ' (timed out)' : ''}${stderr ? `: ${stderr}` : ''}`);
    }
    return { exitCode, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
  };
  return Object.assign(run, { count: () => spawned });
}
