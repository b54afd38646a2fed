import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** The loopback names the server answers to. Any other Host is a DNS-rebinding attempt (or a typo). */
export const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost']);

export type Verdict = { ok: true; path: string } | { ok: false; status: number; reason: string };

export interface GuardRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

const refuse = (status: number, reason: string): Verdict => ({ ok: false, status, reason });

function hostnameOf(host: string): string | null {
  const m = /^(\[[0-9a-f:.]+\]|[^:\s]+)(?::(\d{1,5}))?$/i.exec(host);
  return m ? m[1]!.toLowerCase() : null;
}

function sameToken(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Every request passes here first: the Host must be a loopback name (so a page from another site
 * that rebinds its DNS name to 127.0.0.1 is refused), the path must start with the per-launch token,
 * and a POST must come from this very origin as JSON (a form or a cross-site fetch is refused; we
 * never answer CORS, so a foreign page can neither read nor preflight its way in).
 * Returns the path below the token ("/", "/api/burn", …).
 */
export function guard(req: GuardRequest, token: string): Verdict {
  const host = req.headers.host ?? '';
  const name = hostnameOf(host);
  if (!name || !LOOPBACK_NAMES.has(name)) return refuse(403, 'refused: Host must be 127.0.0.1 or localhost');
  const url = new URL(req.url, 'http://127.0.0.1');
  const [, first = '', ...rest] = url.pathname.split('/');
  if (!sameToken(first, token)) return refuse(403, 'refused: missing or wrong token (use the URL metis ui printed)');
  const path = `/${rest.join('/')}`;
  const site = req.headers['sec-fetch-site'];
  if (req.method === 'GET' || req.method === 'HEAD') {
    // A top-level navigation ("none") or the page itself; never another site's subresource.
    if (site && site !== 'same-origin' && site !== 'none') return refuse(403, 'refused: cross-site request');
    return { ok: true, path };
  }
  if (req.method !== 'POST') return refuse(405, 'refused: method not allowed');
  if (req.headers.origin !== `http://${host}`) return refuse(403, 'refused: Origin must be this page');
  if (site && site !== 'same-origin') return refuse(403, 'refused: cross-site request');
  if (!/^application\/json(;|$)/.test(req.headers['content-type'] ?? '')) return refuse(415, 'refused: JSON only');
  return { ok: true, path };
}
