import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { errorMessage } from '../lib/errors.js';
import type { CliOptions } from './args.js';
import { exitCodeFor, run } from './engine/run.js';
import { installManifest, readManifestInput, type InstallOutcome } from './manifest-install.js';
import { recapLine, type Report } from './report.js';

/** What `--install-manifest --json` prints: the install, then the run on the new manifest. */
export interface InstallResult {
  install?: InstallOutcome;
  report?: Report;
  error?: string;
  errorCode?: string;
}

/**
 * `--install-manifest FILE|-`: install the manifest (install → converge), or with --check show the
 * manifest diff and run a check against the new manifest without writing the card (the proposed
 * manifest then lives in a 0600 temp file in the state dir for the run, and is removed after; a
 * check on a proposed manifest is not reported onto the Node).
 */
export async function installMain(opts: CliOptions & { installManifest: string }): Promise<number> {
  const stateDir = opts.stateDir ?? join(opts.root, 'var/lib/metis');
  const print = (r: InstallResult) => {
    if (opts.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    else {
      if (r.error) process.stderr.write(`metis-bootstrap: ${r.error}\n`);
      if (r.install) process.stdout.write(`${r.install.changed ? `${r.install.path}:\n${r.install.diff.join('\n')}` : `${r.install.path}: unchanged`}\n`);
      if (r.report) process.stdout.write(`${recapLine(r.report)}\n`);
    }
  };
  let install: InstallOutcome;
  let text: string;
  try {
    text = await readManifestInput(opts.installManifest);
    install = await installManifest(text, { root: opts.root, manifestPath: opts.manifest, stateDir, check: opts.check });
  } catch (e) {
    print({ error: errorMessage(e), errorCode: (e as { code?: string }).code });
    return 1;
  }
  const logDest = pino.destination({ fd: opts.json ? 2 : 1, sync: true });
  let proposed: string | undefined;
  try {
    let manifestPath = install.path;
    if (opts.check && install.changed) {
      await fsp.mkdir(stateDir, { recursive: true, mode: 0o700 });
      proposed = join(stateDir, `.proposed-${randomBytes(4).toString('hex')}.yaml`);
      await fsp.writeFile(proposed, text, { mode: 0o600, flag: 'wx' });
      manifestPath = proposed;
    }
    const report = await run({ manifestPath, root: opts.root, stateDir, checkMode: opts.check, diff: opts.diff, logDest, ...(proposed ? { nodeReport: false as const } : {}) });
    print({ install, report });
    return exitCodeFor(report);
  } finally {
    if (proposed) await fsp.rm(proposed, { force: true });
  }
}
