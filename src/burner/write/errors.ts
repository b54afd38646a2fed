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

/** Raised once bytes reached the card: the write-failure exit code, and what that means for the card. */
export class CorruptImageError extends MetisError {
  readonly exitCode = 6;
  /** The digest of the whole image file, read to its end after the decompressor failed. */
  source?: { sha256: string; bytes: number };
  constructor(cause: MetisError) {
    super('E_DECOMPRESS', `${cause.message}: the image is corrupt; the card will not boot; burn again`, { file: cause.file, cause });
  }
}

/** The image file changed while it was read to be written. */
export class ImageChangedError extends MetisError {
  readonly exitCode = 6;
  constructor(file: string, detail: string) {
    super('E_IMAGE_CHANGED', `${file}: ${detail}; the card will not boot; burn again`, { file });
  }
}
