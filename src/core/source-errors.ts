import { MetisError } from '../lib/errors.js';

export class DigestMismatchError extends MetisError {
  constructor(readonly what: string, readonly expected: string, readonly actual: string) {
    super('E_DIGEST', `${what}: sha256 mismatch: expected ${expected}, got ${actual}; nothing was written`);
  }
}

export class SourceError extends MetisError {}
