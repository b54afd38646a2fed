import { createSign, createVerify, type KeyObject, type Verify } from 'node:crypto';

/** ECDSA P-256 over SHA-256, DER-encoded: `openssl dgst -sha256 -sign` and cosign both make these. */
export function sign(data: Buffer, key: KeyObject): Buffer {
  return createSign('sha256').update(data).sign(key);
}

export function verify(data: Buffer, signature: Buffer, key: KeyObject): boolean {
  try {
    return createVerify('sha256').update(data).verify(key, signature);
  } catch {
    return false;
  }
}

/**
 * Verifies a detached signature over bytes that arrive in pieces (the image as it is written):
 * one running verifier per trusted key, fed the same bytes.
 */
export class StreamVerifier {
  private readonly verifiers: Array<{ key: KeyObject; v: Verify }>;
  constructor(keys: KeyObject[]) {
    this.verifiers = keys.map((key) => ({ key, v: createVerify('sha256') }));
  }

  update(bytes: Buffer): void {
    for (const x of this.verifiers) x.v.update(bytes);
  }

  /** True when any trusted key verifies the signature. */
  verify(signature: Buffer): boolean {
    return this.verifiers.some(({ key, v }) => {
      try {
        return v.verify(key, signature);
      } catch {
        return false;
      }
    });
  }
}

/** cosign's text form: base64 of the DER signature (openssl writes raw DER; both are read). */
export function decodeSignature(text: Buffer): Buffer {
  const s = text.toString('latin1').trim();
  if (/^[A-Za-z0-9+/=\s]+$/.test(s) && s.length > 0) return Buffer.from(s.replace(/\s+/g, ''), 'base64');
  return text;
}
