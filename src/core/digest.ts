import { MetisError } from '../lib/errors.js';

/** A sha256 as people paste it: bare hex or `sha256:`-prefixed (what `image push` prints), any case. */
export const DIGEST_INPUT = /^(?:sha256:)?[0-9a-fA-F]{64}$/;

/** The canonical form every comparison uses: 64 lowercase hex characters. */
export function normalizeDigest(text: string, what = 'sha256'): string {
  const t = text.trim();
  if (!DIGEST_INPUT.test(t)) throw new MetisError('E_DIGEST_FORMAT', `${what}: "${t.slice(0, 80)}" is not a sha256 (64 hex characters, optionally prefixed sha256:)`);
  return t.replace(/^sha256:/, '').toLowerCase();
}
