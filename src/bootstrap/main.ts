import '../core/zod-setup.js';
import pino from 'pino';
import { errorMessage } from '../lib/errors.js';
import { parseCliArgs } from './args.js';
import { formatDiffs } from './diff-text.js';
import { exitCodeFor, run } from './engine/run.js';
import { humanStream, wantsColor } from './output/human.js';
import { installMain } from './install-main.js';
import { bootRun } from './boot.js';

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
    const { full, code } = await bootRun(runOpts, logDest);
    if (opts.diff && !human) out.write(formatDiffs(full));
    return code;
  }
  const report = await run(runOpts);
  if (opts.diff && !human) out.write(formatDiffs(report));
  if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  return exitCodeFor(report);
}
