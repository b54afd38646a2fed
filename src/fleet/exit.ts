import { MetisError } from '../lib/errors.js';

/**
 * Exit codes of `metis status|check|push`: Puppet's detailed exit codes (2 changes/drift, 4
 * failures, 6 both) plus a bit for nodes that could not be judged (8: unreachable, host-key
 * mismatch, no Metis, bootstrap too old, stale or missing report), OR-ed over the nodes. A usage
 * error is 64 (sysexits EX_USAGE) here, because 2 already means drift; 1 and 3 keep the CLI's
 * meaning (could not run; invalid inventory/manifest).
 */
export const FLEET_EXIT = {
  OK: 0,
  ERROR: 1,
  DRIFT: 2,
  INVALID: 3,
  FAILED: 4,
  UNKNOWN: 8,
  USAGE: 64,
} as const;

export class FleetUsageError extends MetisError {
  constructor(message: string) {
    super('E_USAGE', message);
  }
}

/** Parses flags, turning node's parseArgs errors into FleetUsageError. */
export function usage<T>(text: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new FleetUsageError(`${(e as Error).message}\n${text}`);
  }
}

type Command<I extends { err: (s: string) => void }> = (argv: string[], io: I) => Promise<number>;

/** A fleet command for the CLI's map: its usage errors exit 64 here; every other error goes to the CLI's mapping. */
export function fleetCommand<I extends { err: (s: string) => void }>(name: string, run: Command<I>): Command<I> {
  return async (argv, io) => {
    try {
      return await run(argv, io);
    } catch (e) {
      // A cluster that cannot be asked is "could not run" (1) here: the CLI's 40 is replace's preflight.
      if (e instanceof MetisError && e.code.startsWith('E_KUBE_')) {
        io.err(`metis ${name}: ${e.message}\n`);
        return FLEET_EXIT.ERROR;
      }
      if (!(e instanceof FleetUsageError)) throw e;
      io.err(`metis ${name}: ${e.message}\n`);
      return FLEET_EXIT.USAGE;
    }
  };
}
