import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MetisError } from '../lib/errors.js';

export interface CliOptions {
  check: boolean;
  diff: boolean;
  json: boolean;
  /** json: pino lines (journald); human: the terminal view; undefined: human on a TTY, else json. */
  logFormat?: 'json' | 'human';
  manifest?: string;
  root: string;
  stateDir?: string;
  tags?: string[];
  /** Reboot once when boot files changed (docs/pi-boot.md). */
  rebootIfRequired: boolean;
  /** The boot run: early tasks, READY=1 to systemd, wait for the network, full converge (src/bootstrap/boot.ts). */
  boot: boolean;
  /** Replace the card's manifest with FILE or stdin ("-"), then converge (docs/fleet.md). */
  installManifest?: string;
}

/** Strict: an unknown flag or a missing value is an error (exit 1), never silently ignored. */
export function parseCliArgs(argv: string[]): CliOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        check: { type: 'boolean', default: false },
        diff: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        'log-format': { type: 'string' },
        manifest: { type: 'string' },
        root: { type: 'string', default: '/' },
        'state-dir': { type: 'string' },
        tags: { type: 'string' },
        'install-manifest': { type: 'string' },
        'reboot-if-required': { type: 'boolean', default: false },
        boot: { type: 'boolean', default: false },
      },
    }));
  } catch (e) {
    throw new MetisError('E_USAGE', `${(e as Error).message}; see metis-bootstrap --help`);
  }
  const tags = values.tags?.split(',').map((t) => t.trim()).filter(Boolean);
  if (values.tags !== undefined && !tags?.length) throw new MetisError('E_USAGE', '--tags needs a comma-separated list like early,ssh');
  if (values.boot) {
    const clash = (['tags', 'json', 'install-manifest'] as const).find((k) => values[k] !== undefined && values[k] !== false);
    if (clash) throw new MetisError('E_USAGE', `--boot runs the early tasks and then every task: it cannot be combined with --${clash}`);
  }
  const logFormat = values['log-format'];
  if (logFormat !== undefined && logFormat !== 'json' && logFormat !== 'human') throw new MetisError('E_USAGE', `--log-format must be json or human, not "${logFormat}"`);
  return {
    logFormat,
    check: values.check,
    diff: values.diff,
    json: values.json,
    manifest: values.manifest === undefined ? undefined : resolve(values.manifest),
    root: resolve(values.root),
    stateDir: values['state-dir'] === undefined ? undefined : resolve(values['state-dir']),
    tags,
    installManifest: values['install-manifest'],
    rebootIfRequired: values['reboot-if-required'],
    boot: values.boot,
  };
}
