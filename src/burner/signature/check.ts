import type { KeyObject } from 'node:crypto';
import { decodeSignature, StreamVerifier, verify } from '../../core/signature/ecdsa.js';
import { SignatureError } from '../../core/signature/errors.js';
import { COSIGN_PAYLOAD_TYPE, parsePayload } from '../../core/signature/simple-signing.js';

export type SignaturePolicy = 'required' | 'optional';

export interface Trust {
  policy: SignaturePolicy;
  keys: KeyObject[];
}

/** What the registry said about an OCI image, kept in the cache so a burn checks it offline too. */
export interface OciEvidence {
  /** HOST/REPO as pulled. */
  repository: string;
  /** The tag burned, when burned by tag. */
  tag?: string;
  manifestDigest: string;
  /** sha256 hex of the Metis image layer the manifest names. */
  layer: string;
  signatures: Array<{ payload: string; signature: string }>;
}

export interface SignatureVerdict {
  /** sha256 hex the written bytes must have, when a verified signature vouches for it. */
  signedSha256?: string;
  note: string;
}

/**
 * Checks an OCI image's cosign signatures before anything is written: a signature must verify
 * with a trusted key, its payload must name this artifact's manifest digest and repository (and
 * tag, when it names one). The layer bytes are checked against the manifest while written.
 */
export function checkOciSignatures(trust: Trust, ev: OciEvidence, image: string): SignatureVerdict {
  if (ev.signatures.length === 0) {
    if (trust.policy === 'required') throw new SignatureError('E_SIG_UNSIGNED', image, `no signature (no ${ev.manifestDigest.replace(':', '-')}.sig tag); cluster.yaml requires signed images`);
    return { note: 'image is not signed (signature policy: optional)' };
  }
  if (trust.keys.length === 0) return { note: 'image is signed, but cluster.yaml has no public keys: signature not checked' };
  let first: SignatureError | null = null;
  for (const s of ev.signatures) {
    const payload = Buffer.from(s.payload, 'base64');
    const sig = Buffer.from(s.signature, 'base64');
    if (!trust.keys.some((k) => verify(payload, sig, k))) continue;
    const claims = parsePayload(payload);
    const refusal = claimsRefusal(claims, ev, image);
    if (!refusal) return { signedSha256: ev.layer, note: `signature verified (cosign, ${ev.repository}@${ev.manifestDigest})` };
    first ??= refusal;
  }
  throw first ?? new SignatureError('E_SIG_KEY', image, `${ev.signatures.length} signature(s), none verifies with the ${trust.keys.length} public key(s) in cluster.yaml`);
}

function claimsRefusal(claims: ReturnType<typeof parsePayload>, ev: OciEvidence, image: string): SignatureError | null {
  if (!claims || claims.type !== COSIGN_PAYLOAD_TYPE) return new SignatureError('E_SIG_DIGEST', image, `signed payload is not a cosign container image signature`);
  if (claims.digest !== ev.manifestDigest) return new SignatureError('E_SIG_DIGEST', image, `signed payload is for manifest ${claims.digest}, the artifact is ${ev.manifestDigest}`);
  const m = /^(.+?)(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@sha256:[0-9a-f]{64})?$/.exec(claims.dockerReference);
  const repo = m?.[1];
  const tag = m?.[2];
  if (repo !== ev.repository) return new SignatureError('E_SIG_REFERENCE', image, `signature is for ${claims.dockerReference}, not ${ev.repository}`);
  if (tag && ev.tag && tag !== ev.tag) return new SignatureError('E_SIG_REFERENCE', image, `signature is for tag ${tag}, not ${ev.tag}`);
  return null;
}

/** The layer was written: are these the bytes the signed manifest names? */
export function checkSignedBytes(verdict: SignatureVerdict, actual: string, image: string): void {
  if (verdict.signedSha256 && actual !== verdict.signedSha256) {
    throw new SignatureError('E_SIG_TAMPERED', image, `image bytes are not the signed ones: the signed manifest names sha256 ${verdict.signedSha256}, the bytes read are ${actual}; the card will not boot`);
  }
}

/**
 * A detached signature beside an HTTP or file image (cosign sign-blob: base64 ECDSA over the file
 * bytes), checked over the bytes as they are written.
 */
export function blobSignatureCheck(trust: Trust, sigText: Buffer | null, image: string): { observe?: (b: Buffer) => void; check: () => void; note: string } {
  if (!sigText) {
    if (trust.policy === 'required') throw new SignatureError('E_SIG_UNSIGNED', image, 'no detached signature (IMAGE.sig) beside the image; cluster.yaml requires signed images');
    return { check: () => {}, note: 'image is not signed (signature policy: optional)' };
  }
  if (trust.keys.length === 0) return { check: () => {}, note: 'image has a signature, but cluster.yaml has no public keys: signature not checked' };
  const sig = decodeSignature(sigText);
  const v = new StreamVerifier(trust.keys);
  return {
    observe: (b) => v.update(b),
    check: () => {
      if (!v.verify(sig)) throw new SignatureError('E_SIG_KEY', image, `detached signature does not verify with the ${trust.keys.length} public key(s) in cluster.yaml over the bytes written (wrong key, or the image changed); the card will not boot`);
    },
    note: 'detached signature: checked over the bytes as they are written',
  };
}
