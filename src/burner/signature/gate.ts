import type { ImageCache } from '../source/cache.js';
import { DigestMismatchError } from '../../core/source-errors.js';
import { evidenceName } from '../source/oci.js';
import type { ResolvedImage } from '../source/resolve.js';
import { blobSignatureCheck, checkOciSignatures, checkSignedBytes, type OciEvidence, type Trust } from './check.js';
import { WrittenDigestError } from '../../core/signature/errors.js';

export interface ImageGate {
  /** Feed with every image byte as it is written (a detached signature is checked over them). */
  observe?: (b: Buffer) => void;
  /** burn()'s beforeCommit: digest and signature of the bytes written, before the card can boot. */
  beforeCommit: (source: { sha256: string }) => Promise<void>;
  /** One line for the output: what was (or could not be) checked. */
  note: string | null;
}

/**
 * Everything that must hold before a card is made bootable. Signatures that can be judged before
 * writing (an OCI signature names the manifest, which names the layer digest) are judged now, so
 * a refused image touches nothing; the bytes themselves are judged as they are written.
 */
export function imageGate(img: ResolvedImage, trust: Trust | null, cache: ImageCache): ImageGate {
  let note: string | null = null;
  let observe: ((b: Buffer) => void) | undefined;
  let checkBlob = () => {};
  let signed: ReturnType<typeof checkOciSignatures> | null = null;
  if (trust && img.ref.startsWith('oci://')) {
    signed = checkOciSignatures(trust, img.oci ?? noEvidence(img), img.ref);
    note = signed.note;
  } else if (trust) {
    const b = blobSignatureCheck(trust, img.signature ?? null, img.ref);
    ({ observe } = b);
    checkBlob = b.check;
    note = b.note;
  }
  return {
    observe,
    note,
    async beforeCommit({ sha256 }) {
      try {
        if (signed) checkSignedBytes(signed, sha256, img.ref);
        if (img.sha256 && sha256 !== img.sha256) throw new WrittenDigestError(img.ref, img.sha256, sha256);
        checkBlob();
      } catch (e) {
        // A cache entry that fails is dropped, never used again.
        if (img.cached && img.sha256) await cache.drop(img.sha256);
        throw e;
      }
    },
  };
}

/** An OCI image found in the cache with no record of its signatures: judged as unsigned. */
function noEvidence(img: ResolvedImage): OciEvidence {
  return { repository: '', manifestDigest: '(unknown)', layer: img.sha256 ?? '', signatures: [] };
}

/**
 * A pulled layer that does not hash to its manifest's digest: when a verified signature vouches
 * for that manifest, this is a tampered layer (its own refusal), else a plain digest mismatch.
 */
export async function judgeDownloadMismatch(e: unknown, ref: string, trust: Trust | null, cache: ImageCache): Promise<never> {
  if (!(e instanceof DigestMismatchError) || !trust || !ref.startsWith('oci://')) throw e;
  const ev = await cache.readSide(e.expected, evidenceName(ref));
  if (!ev) throw e;
  const verdict = checkOciSignatures(trust, JSON.parse(ev.toString('utf8')) as OciEvidence, ref);
  checkSignedBytes(verdict, e.actual, ref);
  throw e;
}
