import pino from 'pino';
import { errorMessage } from '../lib/errors.js';
import { parseCliArgs } from './args.js';
import { formatDiffs } from './diff-text.js';
import { exitCodeFor, run } from './engine/run.js';
import { installMain } from './install-main.js';

/** Runs the CLI and returns the exit code; cli.ts owns process.exit. */
export async function main(argv: string[]): Promise<number> {
  let opts;
  try {
    opts = parseCliArgs(argv);
  } catch (e) {
    process.stderr.write(`metis-bootstrap: ${errorMessage(e)}\n`);
    return 1;
  }
  if (opts.installManifest !== undefined) return installMain({ ...opts, installManifest: opts.installManifest });
  // --json: stdout carries only the report; logs go to stderr.
  const out = opts.json ? process.stderr : process.stdout;
  const report = await run({
    manifestPath: opts.manifest,
    root: opts.root,
    stateDir: opts.stateDir,
    checkMode: opts.check,
    diff: opts.diff,
    tags: opts.tags,
    logDest: pino.destination({ fd: opts.json ? 2 : 1, sync: true }),
  });
  if (opts.diff) out.write(formatDiffs(report));
  if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  return exitCodeFor(report);
}
