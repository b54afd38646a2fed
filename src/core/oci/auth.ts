import { describeNetError } from '../net-error.js';
import { SourceError } from '../source-errors.js';

/** Parses `Bearer realm="…",service="…",scope="…"` (RFC 6750 challenge as registries send it). */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const sp = header.indexOf(' ');
  const scheme = (sp < 0 ? header : header.slice(0, sp)).toLowerCase();
  const params: Record<string, string> = {};
  for (const m of header.slice(sp + 1).matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) params[m[1]!.toLowerCase()] = m[2]!;
  return { scheme, params };
}

/** Optional credentials from the environment: METIS_REGISTRY_USER / METIS_REGISTRY_PASSWORD. */
export function basicCredentials(env: NodeJS.ProcessEnv): string | undefined {
  const user = env['METIS_REGISTRY_USER'];
  const pass = env['METIS_REGISTRY_PASSWORD'];
  return user && pass ? Buffer.from(`${user}:${pass}`).toString('base64') : undefined;
}

/**
 * Answers a 401: Bearer → a token from the realm (with basic credentials when given, anonymous
 * otherwise), Basic → the basic credentials. Returns the Authorization header value.
 */
export async function authorize(challenge: string, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<string> {
  const { scheme, params } = parseChallenge(challenge);
  const basic = basicCredentials(env);
  if (scheme === 'basic') {
    if (!basic) throw new SourceError('E_OCI_AUTH', 'registry wants basic auth: set METIS_REGISTRY_USER and METIS_REGISTRY_PASSWORD');
    return `Basic ${basic}`;
  }
  if (scheme !== 'bearer' || !params['realm']) throw new SourceError('E_OCI_AUTH', `unsupported registry auth challenge (${scheme})`);
  const url = new URL(params['realm']);
  if (params['service']) url.searchParams.set('service', params['service']);
  if (params['scope']) url.searchParams.set('scope', params['scope']);
  const res = await fetch(url, { headers: basic ? { authorization: `Basic ${basic}` } : {}, signal }).catch((e: unknown) => {
    throw new SourceError('E_OCI_AUTH', `token request to ${url.origin}${url.pathname}: ${describeNetError(e)}`, { cause: e });
  });
  if (!res.ok) throw new SourceError('E_OCI_AUTH', `token request to ${url.origin}${url.pathname} failed: HTTP ${res.status}`);
  const body = (await res.json()) as { token?: string; access_token?: string };
  const token = body.token ?? body.access_token;
  if (!token) throw new SourceError('E_OCI_AUTH', `token response from ${url.origin}${url.pathname} has no token`);
  return `Bearer ${token}`;
}
