import { MetisError } from '../../lib/errors.js';

/** Why a target is refused. Each reason has its own exit code, so a script can tell them apart. */
export const REFUSALS = {
  E_TARGET_MISSING: 20,
  E_TARGET_SYSTEM_DISK: 21,
  E_TARGET_MOUNTED: 22,
  E_TARGET_CONTAINS_SOURCE: 23,
  E_TARGET_TOO_SMALL: 24,
  E_TARGET_READ_ONLY: 25,
  E_TARGET_NOT_A_DISK: 26,
  /** Another metis burn holds the target (its claim lives as long as its process). */
  E_TARGET_BUSY: 27,
  /** Not root and no write access to the device. */
  E_TARGET_NO_ACCESS: 28,
} as const;

export type RefusalCode = keyof typeof REFUSALS;

export class TargetRefusedError extends MetisError {
  readonly exitCode: number;
  constructor(code: RefusalCode, readonly target: string, message: string) {
    super(code, `refusing to write ${target}: ${message}`, { path: target });
    this.exitCode = REFUSALS[code];
  }
}

/** --device names a file or --to a block device: the operator picked the wrong flag (usage, exit 2). */
export class TargetKindError extends MetisError {
  constructor(message: string) {
    super('E_TARGET_KIND', message);
  }
}
