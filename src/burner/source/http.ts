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
  const total = Number(res.headers.get('content-length') ?? 0);
  return streamToCache(cache, res.body, { ...opts, what: url, total });
}
