import { createHash } from 'node:crypto';
import { MetisError } from '../../lib/errors.js';
import { httpsModule } from '../https.js';
import { K10_TOKEN } from '../../manifest/fields.js';

export interface PreflightOptions {
  /** Total time to keep trying to reach the server. */
  timeoutMs?: number;
  retryMs?: number;
}

function getCacerts(serverUrl: string, timeoutMs: number): Promise<Buffer> {
  // node:https is loaded when a join is checked (first boots), not with the engine.
  const { request } = httpsModule();
  return new Promise((resolve, reject) => {
    const url = new URL('/cacerts', serverUrl);
    // The CA is verified by its hash in the token, which is stronger than trusting any CA here.
    const req = request(url, { method: 'GET', rejectUnauthorized: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`HTTP ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Before k3s starts: the server answers, and its CA is the one the K10 token was issued for. A
 * token from another cluster fails here with a message instead of k3s retrying forever.
 */
export async function joinPreflight(serverUrl: string, token: string, opts: PreflightOptions = {}): Promise<{ caSha256: string }> {
  const m = K10_TOKEN.exec(token);
  if (!m) throw new MetisError('E_TOKEN_FORMAT', 'k3s.token is not a K10 secure token: cannot check it belongs to this cluster', { path: 'k3s.token' });
  const wanted = m[1]!;
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let last: unknown;
  for (let attempt = 0; attempt < 100 && Date.now() < deadline; attempt++) {
    try {
      const body = await getCacerts(serverUrl, Math.max(1000, Math.min(5000, deadline - Date.now())));
      const got = createHash('sha256').update(body).digest('hex');
      if (got !== wanted) {
        throw new MetisError('E_TOKEN_CLUSTER', `token does not belong to this cluster: ${serverUrl}/cacerts hashes to ${got.slice(0, 12)}…, the token expects ${wanted.slice(0, 12)}…`, { path: 'k3s.token' });
      }
      return { caSha256: got };
    } catch (e) {
      if (e instanceof MetisError) throw e;
      last = e;
      await new Promise((r) => setTimeout(r, Math.min(opts.retryMs ?? 2000, Math.max(0, deadline - Date.now()))));
    }
  }
  throw new MetisError('E_SERVER_UNREACHABLE', `k3s server ${serverUrl} unreachable: ${last instanceof Error ? last.message : String(last)}`, { path: 'k3s.serverUrl', cause: last });
}
