// The boot run (`metis-bootstrap --boot`, metis-bootstrap-early.service, Type=notify): both phases
// of a boot in ONE process. Starting node and loading the engine was over half of a no-op reboot's
// bootstrap time under emulation, and the two units paid it twice (docs/bootstrap.md, "Boot time").
//
//   early tasks (hostname, identity, network config) → READY=1 to systemd (the boot goes on:
//   networkd starts with the node's identity) → wait for metis-online.target (network online,
//   the data disks' mount jobs settled), meanwhile render every task → the full converge, engine
//   already loaded.
//
// node cannot send a datagram to NOTIFY_SOCKET, so systemd-notify(1) does (the unit sets
// NotifyAccess=all; systemd-notify waits until systemd has read the message, so the sender is
// still alive to be attributed to the unit). The wait is one `systemctl start` of a target
// ordered after what the old full unit was ordered after: the same boot order, one process.
import type { DestinationStream } from 'pino';
import { Redactor } from '../lib/redact.js';
import { isLive } from './context.js';
import { exitCodeFor, run, warmRun, type RunMemo, type RunOptions } from './engine/run.js';
import { createLogger } from './log.js';
import type { Report } from './report.js';

/** Ordered after network-online.target, local-fs.target and every Metis data mount (fstab x-systemd.before=). */
export const ONLINE_TARGET = 'metis-online.target';

export interface StepResult {
  ok: boolean;
  /** What happened, for the log: skipped (why) or the failure. */
  note: string;
}

type Runner = (cmd: string, args: string[], timeoutMs: number, env?: Record<string, string>) => Promise<{ exitCode: number; stderr: string; timedOut: boolean }>;

const runQuiet: Runner = async (cmd, args, timeoutMs, env) => {
  const { execa } = await import('execa');
  const r = await execa(cmd, args, { stdin: 'ignore', reject: false, timeout: timeoutMs, stripFinalNewline: true, ...(env ? { env } : {}) });
  return { exitCode: r.exitCode ?? 127, stderr: String(r.stderr ?? '').slice(0, 500), timedOut: r.timedOut === true };
};

/**
 * Tells systemd the early phase is done. Only under a Type=notify unit (NOTIFY_SOCKET set); the
 * variable is removed first and handed to systemd-notify alone, so no other child inherits it.
 */
export async function notifyReady(env: NodeJS.ProcessEnv = process.env, exec: Runner = runQuiet): Promise<StepResult> {
  const socket = env.NOTIFY_SOCKET;
  if (!socket) return { ok: true, note: 'not under a Type=notify unit (no NOTIFY_SOCKET)' };
  delete env.NOTIFY_SOCKET;
  const r = await exec('systemd-notify', ['--ready', '--status=early phase done; converging after metis-online.target'], 30_000, { NOTIFY_SOCKET: socket });
  if (r.exitCode !== 0) return { ok: false, note: `systemd-notify --ready exited ${r.exitCode}${r.timedOut ? ' (timed out)' : ''}: ${r.stderr}` };
  return { ok: true, note: 'READY=1 sent' };
}

/**
 * Waits for metis-online.target (live systems only). A failed or timed-out wait is reported and
 * the converge goes on, as the old unit's ordering did when networkd-wait-online gave up.
 */
export async function waitOnline(live: boolean, exec: Runner = runQuiet, timeoutMs = 600_000): Promise<StepResult> {
  if (!live) return { ok: true, note: 'not a live system: no wait' };
  const r = await exec('systemctl', ['start', ONLINE_TARGET], timeoutMs);
  if (r.exitCode !== 0) return { ok: false, note: `systemctl start ${ONLINE_TARGET} exited ${r.exitCode}${r.timedOut ? ' (timed out)' : ''}: ${r.stderr}` };
  return { ok: true, note: `${ONLINE_TARGET} reached` };
}

/**
 * The boot run's exit code from its two runs' codes (0 ok, 2 changed, 4 failed, 6 both, 1 could not
 * run): the full converge decides failure (it re-checks every early task), either run's change counts.
 */
export function bootExitCode(early: number, full: number): number {
  if (full === 1) return 1;
  return (early === 1 ? 0 : early & 2) | full;
}

/**
 * The boot run: the early tasks, READY=1, the wait, then every task — one memo (manifest, tasks,
 * the apply lock) for both runs. Never throws; the exit code is bootExitCode's.
 */
export async function bootRun(opts: RunOptions, logDest: DestinationStream): Promise<{ early: Report; full: Report; code: number }> {
  const memo: RunMemo = {};
  const early = await run({ ...opts, tags: ['early'], memo, handlersLater: true });
  const log = createLogger({ redact: new Redactor([]), secretPaths: [], dest: logDest });
  // READY=1 is sent at once; systemd-notify then waits until systemd has read it, which can take a
  // while on a busy boot. That wait overlaps the wait for metis-online.target (whose start job only
  // waits behind this unit's READY, never the other way round) instead of coming before it.
  const t0 = performance.now();
  let notifyMs = 0;
  let waitedMs = 0;
  const readying = notifyReady().finally(() => {
    notifyMs = Math.round(performance.now() - t0);
  });
  // The full run's manifest-only work (rendering, the API connection) is done while systemd brings
  // the network and the data mounts up: the wait is idle time for this process otherwise.
  const waiting = (opts.checkMode ? Promise.resolve({ ok: true, note: 'check mode: no wait' }) : isLive(opts.root).then((live) => waitOnline(live))).finally(() => {
    waitedMs = Math.round(performance.now() - t0);
  });
  // The API connection is opened during the wait too, as soon as the network lets it (apiWarm:
  // connected, or why not; apiWarmMs: when the attempts ended).
  let apiWarmMs = 0;
  const warming = warmRun({ ...opts, memo }, waiting).finally(() => {
    apiWarmMs = Math.round(performance.now() - t0);
  });
  const [ready, online, apiWarm] = await Promise.all([readying, waiting, warming]);
  if (!ready.ok) log.warn({ kind: 'boot', step: 'ready' }, ready.note);
  log[online.ok ? 'info' : 'warn'](
    { kind: 'boot-wait', target: ONLINE_TARGET, waitedMs, notifyMs, ok: online.ok, ...(apiWarm ? { apiWarm, apiWarmMs } : {}) },
    `boot: ${online.note} after ${(waitedMs / 1000).toFixed(1)} s; full converge`,
  );
  const full = await run({ ...opts, memo, bootWait: { target: ONLINE_TARGET, waitedMs, ok: online.ok } }).finally(() => memo.lock?.release());
  return { early, full, code: bootExitCode(exitCodeFor(early), exitCodeFor(full)) };
}
