import { isAbsolute, resolve as resolvePath } from 'node:path';
import { stat } from 'node:fs/promises';
import { sha256File } from '../../core/hash-file.js';
import type { ImageCache } from './cache.js';
import { DigestMismatchError, SourceError } from '../../core/source-errors.js';
import type { FetchProgress } from './fetch-to-cache.js';
import { fetchHttp } from './http.js';
import { pullOci } from './oci.js';

export interface ResolvedImage {
  /** A local file whose sha256 was checked just now. */
  path: string;
  sha256: string;
  ref: string;
  from: 'cache' | 'file' | 'http' | 'oci';
}

export interface ResolveOptions {
  ref: string;
  /** Expected sha256 (class image.sha256 or --sha256); when set nothing unverified is ever returned. */
  sha256?: string;
  cache: ImageCache;
  onProgress?: FetchProgress;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

/**
 * Turns an image reference into a hash-verified local file. With a known digest the cache answers
 * first (offline works); without one the network is asked, and when it can't be reached the digest
 * this reference resolved to last time is used from the cache.
 */
export async function resolveImage(o: ResolveOptions): Promise<ResolvedImage> {
  const { ref, cache } = o;
  const remote = /^(https?|oci):\/\//.test(ref);
  if (!remote) {
    const path = isAbsolute(ref) ? ref : resolvePath(ref);
    if (!(await stat(path).catch(() => null))?.isFile()) throw new SourceError('E_IMAGE_MISSING', `image ${ref}: no such file`);
    const sha256 = await sha256File(path);
    if (o.sha256 && sha256 !== o.sha256) throw new DigestMismatchError(`image ${ref}`, o.sha256, sha256);
    return { path, sha256, ref, from: 'file' };
  }
  if (o.sha256) {
    const hit = await cache.get(o.sha256);
    if (hit) return { path: hit, sha256: o.sha256, ref, from: 'cache' };
  }
  const from = ref.startsWith('oci://') ? 'oci' : 'http';
  try {
    const got = from === 'oci' ? await pullOci(cache, ref, { expected: o.sha256, onProgress: o.onProgress, signal: o.signal, env: o.env }) : await fetchHttp(cache, ref, { expected: o.sha256, onProgress: o.onProgress, signal: o.signal });
    await cache.recordRef(ref, got.sha256);
    return { ...got, ref, from };
  } catch (e) {
    if (e instanceof DigestMismatchError || o.sha256 || !isUnreachable(e)) throw e;
    const rec = await cache.lookupRef(ref);
    const hit = rec ? await cache.get(rec.sha256) : null;
    if (!rec || !hit) throw e;
    return { path: hit, sha256: rec.sha256, ref, from: 'cache' };
  }
}

function isUnreachable(e: unknown): boolean {
  const msg = `${(e as Error).message} ${String((e as { cause?: { code?: string } }).cause?.code ?? '')}`;
  return /fetch failed|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH/.test(msg);
}
