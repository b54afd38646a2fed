import { MetisError } from '../../lib/errors.js';

export class VerifyError extends MetisError {
  constructor(readonly offset: number, readonly length: number, readonly expected: string, readonly actual: string) {
    super('E_VERIFY', `verification failed at bytes ${offset}..${offset + length}: expected sha256 ${expected.slice(0, 16)}…, read back ${actual.slice(0, 16)}…`);
  }
}

export class BurnAbortedError extends MetisError {
  constructor() {
    super('E_ABORTED', 'burn interrupted before the partition table was written: the card will not boot; burn again');
  }
}
