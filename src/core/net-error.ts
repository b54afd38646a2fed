/**
 * undici's fetch rejects with a bare "fetch failed" and hides why in `cause` (sometimes nested):
 * this names it — refused, DNS, TLS, timeout, unreachable, reset — with the system code kept in
 * parentheses for scripts and for the offline fallback that matches on it.
 */
const UNTRUSTED = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_UNTRUSTED']);

export function describeNetError(e: unknown): string {
  let c: unknown = e;
  let code = '';
  let message = e instanceof Error ? e.message : String(e);
  for (let i = 0; i < 4 && c && typeof c === 'object'; i++) {
    const x = c as { code?: unknown; message?: unknown; cause?: unknown; name?: unknown };
    if (typeof x.code === 'string' && !code) code = x.code;
    if (x.name === 'TimeoutError') code ||= 'ETIMEDOUT';
    if (typeof x.message === 'string' && x.message && x.message !== 'fetch failed') message = x.message;
    c = x.cause;
  }
  const tls = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|EPROTO/.test(code) || /certificate|ssl|tls/i.test(message);
  // A certificate this node cannot chain to a CA it trusts: a homelab registry's own CA, mostly.
  const untrusted = UNTRUSTED.has(code);
  const what =
    code === 'ECONNREFUSED' ? 'connection refused (nothing listens on that port)'
    : code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME' ? 'DNS: the host name does not resolve'
    : code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' ? 'timed out'
    : code === 'EHOSTUNREACH' || code === 'ENETUNREACH' ? 'host or network unreachable'
    : code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' ? 'connection reset by the server'
    : untrusted ? `TLS: ${message}: the server's CA is not one node trusts here; for a private CA, add it to the system store (update-ca-certificates) and run with NODE_OPTIONS=--use-openssl-ca (docs/burner.md, "A private CA")`
    : tls ? `TLS: ${message}`
    : message;
  return code ? `${what} (${code})` : what;
}
