/**
 * cosign's key-based image signature: a "simple signing" JSON payload naming the repository and
 * the manifest digest, stored as a layer of the `sha256-<hex>.sig` tag with the base64 ECDSA
 * signature over the payload bytes in the layer's annotation (what Harbor shows as "signed").
 */
export const SIMPLE_SIGNING_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
export const COSIGN_PAYLOAD_TYPE = 'cosign container image signature';

export interface SimpleSigningPayload {
  critical: {
    identity: { 'docker-reference': string };
    image: { 'docker-manifest-digest': string };
    type: string;
  };
  optional: Record<string, unknown> | null;
}

/** The tag cosign stores a manifest digest's signatures under. */
export function signatureTag(manifestDigest: string): string {
  return `${manifestDigest.replace(':', '-')}.sig`;
}

export function buildPayload(dockerReference: string, manifestDigest: string): Buffer {
  const p: SimpleSigningPayload = {
    critical: { identity: { 'docker-reference': dockerReference }, image: { 'docker-manifest-digest': manifestDigest }, type: COSIGN_PAYLOAD_TYPE },
    optional: {},
  };
  return Buffer.from(JSON.stringify(p));
}

/** The payload's claims, or null when it is not a simple-signing document. */
export function parsePayload(bytes: Buffer): { dockerReference: string; digest: string; type: string } | null {
  try {
    const p = JSON.parse(bytes.toString('utf8')) as Partial<SimpleSigningPayload>;
    const ref = p.critical?.identity?.['docker-reference'];
    const digest = p.critical?.image?.['docker-manifest-digest'];
    const type = p.critical?.type;
    if (typeof ref !== 'string' || typeof digest !== 'string' || typeof type !== 'string') return null;
    return { dockerReference: ref, digest, type };
  } catch {
    return null;
  }
}

/** cosign's config for the .sig image: an image config whose one layer is the payload. */
export function signatureConfig(payloadDigest: string): Buffer {
  return Buffer.from(JSON.stringify({ architecture: '', created: '0001-01-01T00:00:00Z', history: [{ created: '0001-01-01T00:00:00Z' }], os: '', rootfs: { type: 'layers', diff_ids: [payloadDigest] }, config: {} }));
}
