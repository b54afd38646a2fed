import { isAbsolute, resolve as resolvePath } from 'node:path';
import { readFile, stat } from 'node:fs/promises';
import { sha256File } from '../../core/hash-file.js';
import type { OciEvidence } from '../signature/check.js';
import type { ImageCache } from './cache.js';
import { DigestMismatchError, SourceError } from '../../core/source-errors.js';
import type { FetchProgress } from './fetch-to-cache.js';
import { fetchHttp, fetchHttpSidecars } from './http.js';
import { evidenceName, pullOci } from './oci.js';
import type { GrowingFile } from './growing-file.js';

export interface ResolvedImage {
  /** A local file; its sha256 was checked just now unless `verified` is false (see `defer`). */
  path: string;
  /** The digest the file has (verified) or must have (deferred); undefined for an unpinned local file under `defer`. */
  sha256: string | undefined;
  verified: boolean;
  ref: string;
  from: 'cache' | 'file' | 'http' | 'oci';
  /** The blob lives in the cache: a burn that finds it corrupt drops it. */
  cached: boolean;
  /** A block map for the image (OCI layer, `.bmap` beside an HTTP image, kept in the cache). */
  bmap?: string;
  /** A detached signature beside an HTTP or file image (`IMAGE.sig`). */
  signature?: Buffer;
  /** What the registry said, for the signature check (also offline, from the cache). */
  oci?: OciEvidence;
  /**
   * A cold OCI pull still arriving (`stream`): `path` grows while the burn reads it. `settle(true)`
   * after a burn that read it whole publishes it into the cache (digest checked) and records the
   * reference; `settle(false)` stops it and removes the temp file.
   */
  streaming?: { file: GrowingFile; settle(ok: boolean): Promise<void> };
}

export interface ResolveOptions {
  ref: string;
  /** Expected sha256 (class image.sha256 or --sha256); when set nothing unverified is ever returned. */
  sha256?: string;
  cache: ImageCache;
  onProgress?: FetchProgress;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
  /**
   * Don't re-hash a local file or cache entry here: the caller (a burn) hashes the bytes as it
   * writes them and checks `sha256` before the card is made bootable. Downloads are still hashed
   * as they arrive.
   */
  defer?: boolean;
  /** A cold pull of a compressed OCI layer is returned while it downloads (see `streaming`); implies `defer`'s hashing by the caller. */
  stream?: boolean;
}

/**
 * Turns an image reference into a local file with its digest. With a known digest the cache
 * answers first (offline works); without one the network is asked, and when it can't be reached
 * the digest this reference resolved to last time is used from the cache.
 */
export async function resolveImage(o: ResolveOptions): Promise<ResolvedImage> {
  const { ref, cache } = o;
  const remote = /^(https?|oci):\/\//.test(ref);
  if (!remote) {
    const path = isAbsolute(ref) ? ref : resolvePath(ref);
    if (!(await stat(path).catch(() => null))?.isFile()) throw new SourceError('E_IMAGE_MISSING', `image ${ref}: no such file`);
    const signature = (await readFile(`${path}.sig`).catch(() => null)) ?? undefined;
    if (o.defer) return { path, sha256: o.sha256, verified: false, ref, from: 'file', cached: false, signature };
    const sha256 = await sha256File(path);
    if (o.sha256 && sha256 !== o.sha256) throw new DigestMismatchError(`image ${ref}`, o.sha256, sha256);
    return { path, sha256, verified: true, ref, from: 'file', cached: false, signature };
  }
  const from = ref.startsWith('oci://') ? 'oci' : 'http';
  if (o.sha256) {
    const hit = await cachedBlob(o, o.sha256);
    if (hit) return hit;
  }
  try {
    if (from === 'oci') {
      const got = await pullOci(cache, ref, { expected: o.sha256, onProgress: o.onProgress, signal: o.signal, env: o.env, defer: o.defer, stream: o.stream });
      const img = { path: got.path, sha256: got.sha256, verified: got.verified, ref, from, cached: true, bmap: got.bmap, oci: got.evidence } as const;
      const dl = got.streaming;
      if (!dl) {
        await cache.recordRef(ref, got.sha256);
        return img;
      }
      const settle = async (ok: boolean) => {
        if (!ok) return dl.discard();
        await dl.publish();
        await cache.recordRef(ref, got.sha256);
      };
      return { ...img, streaming: { file: dl.file, settle } };
    }
    const got = await fetchHttp(cache, ref, { expected: o.sha256, onProgress: o.onProgress, signal: o.signal });
    const side = await fetchHttpSidecars(cache, ref, got.sha256, o.signal);
    await cache.recordRef(ref, got.sha256);
    return { ...got, verified: true, ref, from, cached: true, ...side };
  } catch (e) {
    if (e instanceof DigestMismatchError || o.sha256 || !isUnreachable(e)) throw e;
    const rec = await cache.lookupRef(ref);
    const hit = rec ? await cachedBlob(o, rec.sha256) : null;
    if (!rec || !hit) throw e;
    return hit;
  }
}

/** A blob from the cache with what was kept beside it; re-hashed now unless deferred. */
async function cachedBlob(o: ResolveOptions, sha256: string): Promise<ResolvedImage | null> {
  const { cache, ref } = o;
  const path = o.defer ? await cache.has(sha256) : await cache.get(sha256);
  if (!path) return null;
  const bmapText = await cache.readSide(sha256, 'bmap');
  const sig = await cache.readSide(sha256, 'sig');
  const ev = ref.startsWith('oci://') ? await cache.readSide(sha256, evidenceName(ref)) : null;
  return {
    path,
    sha256,
    verified: !o.defer,
    ref,
    from: 'cache',
    cached: true,
    ...(bmapText ? { bmap: cache.sidePath(sha256, 'bmap') } : {}),
    ...(sig ? { signature: sig } : {}),
    ...(ev ? { oci: JSON.parse(ev.toString('utf8')) as OciEvidence } : {}),
  };
}

function isUnreachable(e: unknown): boolean {
  const msg = `${(e as Error).message} ${String((e as { cause?: { code?: string } }).cause?.code ?? '')}`;
  return /fetch failed|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH/.test(msg);
}
