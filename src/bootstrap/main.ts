import pino from 'pino';
import { errorMessage } from '../lib/errors.js';
import { parseCliArgs } from './args.js';
import { formatDiffs } from './diff-text.js';
import { exitCodeFor, run, type RunMemo } from './engine/run.js';
import { humanStream, wantsColor } from './output/human.js';
import { installMain } from './install-main.js';
import { bootExitCode, notifyReady, waitOnline, ONLINE_TARGET } from './boot.js';
import { isLive } from './context.js';
import { createLogger } from './log.js';
import { Redactor } from '../lib/redact.js';

/** Runs the CLI and returns the exit code; cli.ts owns process.exit. */
export async function main(argv: string[]): Promise<number> {
  const engineReadyMs = Math.round(performance.now());
  let opts;
  try {
    opts = parseCliArgs(argv);
  } catch (e) {
    process.stderr.write(`metis-bootstrap: ${errorMessage(e)}\n`);
    return 1;
  }
  if (opts.installManifest !== undefined) return installMain({ ...opts, installManifest: opts.installManifest });
  // A person at a terminal reads tasks and a recap; journald, pipes and --json get JSON lines.
  const human = opts.logFormat === 'human' || (opts.logFormat === undefined && !opts.json && process.stdout.isTTY === true);
  // --json: stdout carries only the report; logs go to stderr.
  const out = opts.json ? process.stderr : process.stdout;
  const logDest = human
    ? humanStream({
        color: wantsColor(out, process.env),
        diff: opts.diff,
        out: (s) => out.write(s),
        err: (s) => process.stderr.write(s),
      })
    : pino.destination({ fd: opts.json ? 2 : 1, sync: true });
  const runOpts = {
    manifestPath: opts.manifest,
    root: opts.root,
    stateDir: opts.stateDir,
    checkMode: opts.check,
    diff: opts.diff,
    tags: opts.tags,
    rebootIfRequired: opts.rebootIfRequired,
    logDest,
    engineReadyMs,
  };
  if (opts.boot) {
    // Both phases of a boot in one process (src/bootstrap/boot.ts).
    const memo: RunMemo = {};
    const early = await run({ ...runOpts, tags: ['early'], memo });
    const log = createLogger({ redact: new Redactor([]), secretPaths: [], dest: logDest });
    const ready = await notifyReady();
    if (!ready.ok) log.warn({ kind: 'boot', step: 'ready' }, ready.note);
    const t0 = performance.now();
    const online = opts.check ? { ok: true, note: 'check mode: no wait' } : await waitOnline(await isLive(opts.root));
    const waitedMs = Math.round(performance.now() - t0);
    log[online.ok ? 'info' : 'warn']({ kind: 'boot-wait', target: ONLINE_TARGET, waitedMs, ok: online.ok }, `boot: ${online.note} after ${(waitedMs / 1000).toFixed(1)} s; full converge`);
    const bootWait = { target: ONLINE_TARGET, waitedMs, ok: online.ok };
    const full = await run({ ...runOpts, memo, bootWait }).finally(() => memo.lock?.release());
    if (opts.diff && !human) out.write(formatDiffs(full));
    return bootExitCode(exitCodeFor(early), exitCodeFor(full));
  }
  const report = await run(runOpts);
  if (opts.diff && !human) out.write(formatDiffs(report));
  if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  return exitCodeFor(report);
}
