import { FlagError } from '../../core/flags.js';
import { MetisError } from '../../lib/errors.js';
import { NotConfirmedError, UsageError } from '../../core/cli-errors.js';
import { RemoteAgentError } from '../../remote/errors.js';
import { TargetKindError, TargetRefusedError } from '../safety/errors.js';
import { DigestMismatchError, SourceError } from '../../core/source-errors.js';

/** Distinct exit codes, so scripts can tell "fix the inventory" from "wrong card" from "bad image". */
export const EXIT = {
  OK: 0,
  ERROR: 1,
  USAGE: 2,
  /** Inventory or manifest invalid, secret source unreadable, unknown node. */
  INVALID: 3,
  /** Image could not be fetched, its sha256 is not the expected one, or it is unusable (truncated, no table, bad bmap, corrupt stream found before writing, no digest under --require-digest). */
  IMAGE: 4,
  /** No confirmation: declined, or no terminal and no --yes. */
  NOT_CONFIRMED: 5,
  /** The write, the read-back verify, or the manifest injection failed: the card must be burned again. */
  BURN: 6,
  /** The flashing host (--host) is unreachable, refused its key or login, lacks node ≥ 18 or sudo. */
  HOST: 7,
  // 20–28: target refusals (src/burner/safety/errors.ts REFUSALS).
  /** replace: the cluster preflight refused (kubectl, API, version skew, Node state, etcd quorum). */
  CLUSTER: 40,
  /** wait: the node did not come back within --timeout; the first failing check is named. */
  WAIT_TIMEOUT: 41,
} as const;

const INVALID_CODES = new Set(['E_VALIDATION', 'E_SCHEMA_VERSION', 'E_INVENTORY', 'E_SECRET', 'E_UNKNOWN_NODE', 'E_NO_IMAGE', 'E_AGE_KEY', 'E_AGE_WRONG_KEY', 'E_AGE_CORRUPT', 'E_AGE_NO_RECIPIENTS', 'E_ESCROW', 'E_ESCROW_RECIPIENTS']);
const IMAGE_CODES = new Set(['E_DECOMPRESS', 'E_BMAP', 'E_IMAGE_TRUNCATED', 'E_IMAGE_NO_TABLE', 'E_NO_DIGEST', 'E_DIGEST_FORMAT']);
const BURN_CODES = new Set([
  'E_VERIFY', 'E_ABORTED', 'E_WRITE_FAILED', 'E_INJECT_FAILED',
  // Injection errors, when they reach here unwrapped.
  'E_NO_BOOT_PARTITION', 'E_MANIFEST_READBACK', 'E_FAT_FULL', 'E_NOT_FAT', 'E_NO_PARTITION_TABLE',
]);

export { NotConfirmedError, UsageError };

export function exitCodeOf(err: unknown): number {
  if (err instanceof TargetRefusedError) return err.exitCode;
  // Errors that carry their own documented exit code (signature refusals, failures after the write began).
  if (err instanceof MetisError && typeof (err as { exitCode?: unknown }).exitCode === 'number') return (err as unknown as { exitCode: number }).exitCode;
  // Computed on the flashing host by this same function (src/remote/agent.ts).
  if (err instanceof RemoteAgentError) return err.exitCode;
  if (err instanceof MetisError && err.code === 'E_SSH_TARGET') return EXIT.USAGE;
  if (err instanceof MetisError && /^E_(SSH|HOST)(_|$)/.test(err.code)) return EXIT.HOST;
  if (err instanceof DigestMismatchError || err instanceof SourceError) return EXIT.IMAGE;
  if (err instanceof UsageError || err instanceof TargetKindError || err instanceof FlagError) return EXIT.USAGE;
  if (err instanceof NotConfirmedError) return EXIT.NOT_CONFIRMED;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) return EXIT.USAGE;
  if (err instanceof MetisError && INVALID_CODES.has(err.code)) return EXIT.INVALID;
  if (err instanceof MetisError && IMAGE_CODES.has(err.code)) return EXIT.IMAGE;
  if (err instanceof MetisError && BURN_CODES.has(err.code)) return EXIT.BURN;
  if (err instanceof MetisError && (err.code.startsWith('E_KUBE_') || err.code === 'E_PREFLIGHT')) return EXIT.CLUSTER;
  if (err instanceof MetisError && err.code === 'E_WAIT_TIMEOUT') return EXIT.WAIT_TIMEOUT;
  return EXIT.ERROR;
}
