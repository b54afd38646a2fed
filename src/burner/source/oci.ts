import { createHash } from 'node:crypto';
import { DigestMismatchError, SourceError } from '../../core/source-errors.js';
import { bmapLayer, METIS_LAYER_TYPES, metisLayer, OciClient } from '../../core/oci/client.js';
import { parseOciRef } from '../../core/oci/ref.js';
import { SIGNATURE_ANNOTATION, SIMPLE_SIGNING_TYPE, signatureTag } from '../../core/signature/simple-signing.js';
import type { OciEvidence } from '../signature/check.js';
import type { ImageCache } from './cache.js';
import { type FetchProgress, startStreamToCache, type StreamingDownload, streamToCache } from './fetch-to-cache.js';

/** The cosign signatures stored for a manifest digest (the `sha256-<hex>.sig` tag), payloads fetched. */
export async function fetchSignatures(client: OciClient, manifestDigest: string): Promise<OciEvidence['signatures']> {
  const got = await client.manifestIfAny(signatureTag(manifestDigest));
  if (!got) return [];
  const out: OciEvidence['signatures'] = [];
  for (const l of got.manifest.layers ?? []) {
    const signature = l.annotations?.[SIGNATURE_ANNOTATION];
    if (l.mediaType !== SIMPLE_SIGNING_TYPE || !signature) continue;
    out.push({ payload: (await client.blob(l.digest, 1 << 20)).toString('base64'), signature });
  }
  return out;
}

export interface PulledOci {
  path: string;
  sha256: string;
  evidence: OciEvidence;
  bmap?: string;
  /** False when the blob came from the cache unhashed (`defer`), or is still arriving (`stream`): the burn hashes it as it writes. */
  verified: boolean;
  /** A download still running (`stream`): `path` is its temp file, published once whole and right. */
  streaming?: StreamingDownload;
}

/**
 * Pulls the Metis image of an oci:// reference into the cache; the blob's digest is checked while
 * streaming. Its block map and cosign signatures are fetched first and kept in the cache beside
 * the blob (before the download, so a refused download still leaves the evidence to judge it by).
 */
export async function pullOci(
  cache: ImageCache,
  refText: string,
  opts: { expected?: string; onProgress?: FetchProgress; signal?: AbortSignal; env?: NodeJS.ProcessEnv; defer?: boolean; stream?: boolean },
): Promise<PulledOci> {
  const ref = parseOciRef(refText);
  const client = new OciClient(ref, opts.env, opts.signal);
  const { manifest, digest } = await client.manifest();
  const layer = metisLayer(manifest);
  const hex = layer.digest.slice('sha256:'.length);
  if (opts.expected && hex !== opts.expected) throw new DigestMismatchError(refText, opts.expected, hex);
  const evidence: OciEvidence = {
    repository: `${ref.host}/${ref.repo}`,
    ...(ref.reference.startsWith('sha256:') ? {} : { tag: ref.reference }),
    manifestDigest: digest,
    layer: hex,
    signatures: await fetchSignatures(client, digest),
  };
  await cache.putSide(hex, evidenceName(refText), Buffer.from(JSON.stringify(evidence)));
  const bl = bmapLayer(manifest);
  const bmap = bl ? await cache.putSide(hex, 'bmap', await client.blob(bl.digest)) : undefined;
  const cached = opts.defer ? await cache.has(hex) : await cache.get(hex);
  if (cached) return { path: cached, sha256: hex, evidence, bmap, verified: !opts.defer };
  const res = await client.request('GET', `blobs/${layer.digest}`);
  if (res.status !== 200 || !res.body) throw new SourceError('E_OCI', `${refText}: blob ${layer.digest}: HTTP ${res.status}`);
  const dl = { expected: hex, what: `${refText} (${layer.digest})`, total: layer.size, onProgress: opts.onProgress, signal: opts.signal };
  // A compressed layer with a block map is burned while it arrives (the decompressor reads it in
  // order; the map's ImageSize is the size the target is checked against before writing). A raw
  // layer needs its allocation analysed from the whole file, and a compressed one without a map
  // has its size at its end (xz) or not reliably at all: both are downloaded first.
  if (opts.stream && bmap && layer.mediaType !== METIS_LAYER_TYPES.raw) {
    // The burn's own progress (decompressed bytes written) is the one bar: no second one for the download.
    const streaming = await startStreamToCache(cache, res.body, { ...dl, onProgress: undefined });
    return { path: streaming.file.path, sha256: hex, evidence, bmap, verified: false, streaming };
  }
  const got = await streamToCache(cache, res.body, dl);
  return { ...got, evidence, bmap, verified: true };
}

/** The cache keeps one evidence record per reference pulled (a blob may be reached by several). */
export function evidenceName(refText: string): string {
  return `oci-${createHash('sha256').update(refText).digest('hex').slice(0, 16)}.json`;
}

