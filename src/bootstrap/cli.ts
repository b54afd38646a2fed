// Entry point of dist/metis-bootstrap.js. Kept tiny on purpose: --version and --help answer
// before zod, pino or handlebars are evaluated (main is imported lazily),
// so the boot-time and timer runs start fast. The only file that calls process.exit.
import { VERSION } from '../core/version.js';

export const USAGE = `Usage: metis-bootstrap [options]

Converges this node to its manifest: validate, plan every task, apply only planned changes, run
handlers, write a report to STATE/last-run.json.

Options:
  --check            show drift only; changes nothing on the managed system (exit 2 = drift)
  --diff             print before/after of every change (secrets redacted)
  --json             print only the report object on stdout (JSON logs go to stderr)
  --log-format F     human (tasks and a recap, the default on a terminal) or json (pino lines,
                     the default when stdout is not a terminal: journald, pipes)
  --manifest FILE    manifest to read (default: ROOT/boot/firmware/metis/node.yaml, ROOT/boot/metis/node.yaml)
  --root DIR         manage the system rooted at DIR (a sysroot); live-system commands are skipped
                     (also with the default root / when systemd is not running: a chroot, a build)
  --state-dir DIR    state dir (default: ROOT/var/lib/metis)
  --tags a,b         run only tasks carrying one of these tags (e.g. early)
  --boot             the boot run (metis-bootstrap-early.service): the early tasks, READY=1 to
                     systemd, wait for metis-online.target (network, data disks), then every task,
                     in one process
  --install-manifest FILE|-
                     replace the card's manifest (validated; same hostname) with FILE or stdin,
                     then converge; with --check: show the manifest diff and the check, write nothing
  --reboot-if-required
                     reboot once when a task changed what only a reboot applies (Pi config.txt,
                     cmdline.txt); off by default; at most once per manifest (see docs/pi-boot.md)
  --version          print the version
  --help             print this help

Exit codes: 0 nothing to change, 2 changed (--check: drift found), 4 a task failed,
6 changes and failures, 1 could not run (bad manifest, bad tasks, lock held, bad flag).
`;

const argv = process.argv.slice(2);
if (argv.includes('--version')) {
  process.stdout.write(`metis-bootstrap ${VERSION}\n`);
  process.exit(0);
} else if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(USAGE);
  process.exit(0);
} else {
  import('./main.js')
    .then((m) => m.main(argv))
    .then(
      (code) => exitWhenWritten(code),
      (err: unknown) => {
        process.stderr.write(`metis-bootstrap: ${err instanceof Error ? err.message : String(err)}\n`);
        exitWhenWritten(1);
      },
    );
}

/**
 * Exits as soon as the run's output is written, not when the event loop has drained: node's
 * teardown of an idle engine (freeing the heap, disposing V8) is ≈ 40 ms under qemu-user, more on a
 * Pi, on every boot's critical path. Everything the run does is awaited before main returns; what
 * may still be pending is a timer or a connection attempt that nothing waits for. The 'exit'
 * listeners (the code cache's save) still run.
 */
function exitWhenWritten(code: number): void {
  const pending = [process.stdout, process.stderr].filter((s) => s.writableLength > 0);
  if (!pending.length) process.exit(code);
  process.exitCode = code;
  let left = pending.length;
  for (const s of pending) s.once('drain', () => --left === 0 && process.exit(code));
}
