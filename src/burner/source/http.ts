import { describeNetError } from '../../core/net-error.js';
import type { ImageCache } from './cache.js';
import { SourceError } from '../../core/source-errors.js';
import { type FetchProgress, streamToCache } from './fetch-to-cache.js';

export async function fetchHttp(
  cache: ImageCache,
  url: string,
  opts: { expected?: string; onProgress?: FetchProgress; signal?: AbortSignal },
): Promise<{ path: string; sha256: string }> {
  const res = await fetch(url, { signal: opts.signal }).catch((e: unknown) => {
    if (opts.signal?.aborted) throw e;
    throw new SourceError('E_HTTP', `${url}: ${describeNetError(e)}`, { cause: e });
  });
  if (!res.ok || !res.body) throw new SourceError('E_HTTP', `${url}: HTTP ${res.status} ${res.statusText}`);
  // fetch decodes a Content-Encoding itself: the length on the wire is then not the body's.
  const encoded = (res.headers.get('content-encoding') ?? 'identity') !== 'identity';
  const total = encoded ? 0 : Number(res.headers.get('content-length') ?? 0);
  return streamToCache(cache, res.body, { ...opts, what: url, total });
}

/** A small file beside an HTTP image, or null (404 or any other answer than 200). */
async function optional(url: string, signal?: AbortSignal): Promise<Buffer | null> {
  const res = await fetch(url, { signal });
  if (res.status !== 200) {
    await res.body?.cancel();
    return null;
  }
  const body = Buffer.from(await res.arrayBuffer());
  return body.length <= 16 << 20 ? body : null;
}

/**
 * What may lie beside an HTTP image: `IMAGE.sig` (cosign sign-blob) and a block map — for
 * `X.img.xz`: `X.img.bmap` (as `metis image build` names it), `X.bmap`, or `X.img.xz.bmap`. Kept in the cache beside the blob.
 */
export async function fetchHttpSidecars(cache: ImageCache, url: string, sha256: string, signal?: AbortSignal): Promise<{ bmap?: string; signature?: Buffer }> {
  const out: { bmap?: string; signature?: Buffer } = {};
  const sig = await optional(`${url}.sig`, signal);
  if (sig) {
    await cache.putSide(sha256, 'sig', sig);
    out.signature = sig;
  }
  const bare = url.replace(/\.(xz|gz|zst)$/, '');
  for (const candidate of [...new Set([`${bare}.bmap`, `${bare.replace(/\.img$/, '')}.bmap`, `${url}.bmap`])]) {
    const b = await optional(candidate, signal);
    if (b) {
      out.bmap = await cache.putSide(sha256, 'bmap', b);
      break;
    }
  }
  return out;
}
