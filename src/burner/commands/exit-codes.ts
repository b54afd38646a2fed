import { MetisError } from '../../lib/errors.js';
import { TargetRefusedError } from '../safety/errors.js';
import { DigestMismatchError, SourceError } from '../source/errors.js';

/** Distinct exit codes, so scripts can tell "fix the inventory" from "wrong card" from "bad image". */
export const EXIT = {
  OK: 0,
  ERROR: 1,
  USAGE: 2,
  /** Inventory or manifest invalid, secret source unreadable, unknown node. */
  INVALID: 3,
  /** Image could not be fetched, or its sha256 is not the expected one. */
  IMAGE: 4,
  /** No confirmation: declined, or no terminal and no --yes. */
  NOT_CONFIRMED: 5,
  /** The write, the read-back verify, or the manifest injection failed. */
  BURN: 6,
  // 20–26: target refusals (src/burner/safety/errors.ts REFUSALS).
  /** replace: the cluster preflight refused (kubectl, API, version skew, Node state, etcd quorum). */
  CLUSTER: 30,
  /** wait: the node did not come back within --timeout; the first failing check is named. */
  WAIT_TIMEOUT: 31,
} as const;

const INVALID_CODES = new Set(['E_VALIDATION', 'E_SCHEMA_VERSION', 'E_INVENTORY', 'E_SECRET', 'E_UNKNOWN_NODE', 'E_NO_IMAGE', 'E_AGE_KEY', 'E_AGE_WRONG_KEY', 'E_AGE_CORRUPT', 'E_AGE_NO_RECIPIENTS', 'E_ESCROW', 'E_ESCROW_RECIPIENTS']);
const BURN_CODES = new Set(['E_VERIFY', 'E_ABORTED', 'E_NO_BOOT_PARTITION', 'E_MANIFEST_READBACK']);

export class UsageError extends MetisError {
  constructor(message: string) {
    super('E_USAGE', message);
  }
}

export class NotConfirmedError extends MetisError {
  constructor(message: string) {
    super('E_NOT_CONFIRMED', message);
  }
}

export function exitCodeOf(err: unknown): number {
  if (err instanceof TargetRefusedError) return err.exitCode;
  if (err instanceof DigestMismatchError || err instanceof SourceError) return EXIT.IMAGE;
  if (err instanceof UsageError) return EXIT.USAGE;
  if (err instanceof NotConfirmedError) return EXIT.NOT_CONFIRMED;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) return EXIT.USAGE;
  if (err instanceof MetisError && INVALID_CODES.has(err.code)) return EXIT.INVALID;
  if (err instanceof MetisError && BURN_CODES.has(err.code)) return EXIT.BURN;
  if (err instanceof MetisError && (err.code.startsWith('E_KUBE_') || err.code === 'E_PREFLIGHT')) return EXIT.CLUSTER;
  if (err instanceof MetisError && err.code === 'E_WAIT_TIMEOUT') return EXIT.WAIT_TIMEOUT;
  return EXIT.ERROR;
}
