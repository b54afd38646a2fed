import { MetisError } from '../../lib/errors.js';

/** Why a signature check refused an image. Each has its own exit code (docs/signing.md). */
export const SIGNATURE_REFUSALS = {
  /** Policy `required`, and the image has no signature. */
  E_SIG_UNSIGNED: 30,
  /** A signature is there but no trusted key verifies it (wrong key, or signed bytes changed). */
  E_SIG_KEY: 31,
  /** The signed payload names another manifest digest than the artifact's. */
  E_SIG_DIGEST: 32,
  /** The image bytes are not the ones the signed manifest names (a tampered layer). */
  E_SIG_TAMPERED: 33,
  /** The signed payload names another repository or tag. */
  E_SIG_REFERENCE: 34,
} as const;

export type SignatureRefusal = keyof typeof SIGNATURE_REFUSALS;

export class SignatureError extends MetisError {
  readonly exitCode: number;
  constructor(code: SignatureRefusal, readonly image: string, message: string) {
    super(code, `${image}: ${message}`);
    this.exitCode = SIGNATURE_REFUSALS[code];
  }
}

/** A key file or a key in cluster.yaml that cannot be read. */
export class KeyError extends MetisError {
  readonly exitCode = 3;
  constructor(message: string, opts: { file?: string; path?: string; cause?: unknown } = {}) {
    super('E_SIG_KEYFILE', message, opts);
  }
}

/** The bytes written do not have the expected digest; found before the partition table was written. */
export class WrittenDigestError extends MetisError {
  readonly exitCode = 4;
  constructor(readonly image: string, readonly expected: string, readonly actual: string) {
    super('E_DIGEST', `${image}: sha256 mismatch: expected ${expected}, got ${actual} (the bytes read to be written); the partition table was not written: the card will not boot; burn again`);
  }
}
