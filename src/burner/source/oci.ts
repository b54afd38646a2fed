import { DigestMismatchError, SourceError } from '../../core/source-errors.js';
import { metisLayer, OciClient } from '../../core/oci/client.js';
import { parseOciRef } from '../../core/oci/ref.js';
import type { ImageCache } from './cache.js';
import { type FetchProgress, streamToCache } from './fetch-to-cache.js';

/** Pulls the Metis image of an oci:// reference into the cache; the blob's digest is checked while streaming. */
export async function pullOci(
  cache: ImageCache,
  refText: string,
  opts: { expected?: string; onProgress?: FetchProgress; signal?: AbortSignal; env?: NodeJS.ProcessEnv },
): Promise<{ path: string; sha256: string }> {
  const client = new OciClient(parseOciRef(refText), opts.env, opts.signal);
  const layer = metisLayer((await client.manifest()).manifest);
  const hex = layer.digest.slice('sha256:'.length);
  if (opts.expected && hex !== opts.expected) throw new DigestMismatchError(refText, opts.expected, hex);
  const cached = await cache.get(hex);
  if (cached) return { path: cached, sha256: hex };
  const res = await client.request('GET', `blobs/${layer.digest}`);
  if (res.status !== 200 || !res.body) throw new SourceError('E_OCI', `${refText}: blob ${layer.digest}: HTTP ${res.status}`);
  return streamToCache(cache, res.body, { expected: hex, what: `${refText} (${layer.digest})`, total: layer.size, onProgress: opts.onProgress, signal: opts.signal });
}
