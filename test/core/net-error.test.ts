import { createServer, type Server } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { describeNetError } from '../../src/core/net-error.js';

const servers: Server[] = [];
afterAll(() => servers.forEach((s) => s.close()));

async function listen(onConnect: (s: import('node:net').Socket) => void): Promise<number> {
  const srv = createServer(onConnect);
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return (srv.address() as { port: number }).port;
}

describe('describeNetError', () => {
  it('names a refused connection (real fetch to a closed loopback port)', async () => {
    const port = await listen(() => {});
    await new Promise((r) => servers.pop()!.close(r));
    const e = await fetch(`http://127.0.0.1:${port}/`).catch((x: unknown) => x);
    expect(describeNetError(e)).toMatch(/^connection refused .*\(ECONNREFUSED\)$/);
  });

  it('names a TLS failure (https:// to a server that does not speak TLS)', async () => {
    const port = await listen((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    const e = await fetch(`https://127.0.0.1:${port}/`).catch((x: unknown) => x);
    expect(describeNetError(e)).toMatch(/TLS|SSL|EPROTO|ECONNRESET/);
  });

  it('names a timeout', async () => {
    const port = await listen(() => {}); // accepts, never answers
    const e = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(200) }).catch((x: unknown) => x);
    expect(describeNetError(e)).toMatch(/timed out \(ETIMEDOUT\)/);
  });

  it.each([
    [{ message: 'fetch failed', cause: { code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND registry.invalid' } }, /^DNS: the host name does not resolve \(ENOTFOUND\)$/],
    [{ message: 'fetch failed', cause: { code: 'EAI_AGAIN' } }, /DNS/],
    [{ message: 'fetch failed', cause: { code: 'EHOSTUNREACH' } }, /unreachable/],
    [{ message: 'fetch failed', cause: { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', message: 'unable to verify the first certificate' } }, /^TLS: unable to verify the first certificate: .*private CA.*--use-openssl-ca.*\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)$/],
    [{ message: 'fetch failed', cause: { code: 'SELF_SIGNED_CERT_IN_CHAIN', message: 'self-signed certificate in certificate chain' } }, /private CA.*\(SELF_SIGNED_CERT_IN_CHAIN\)$/],
    [{ message: 'fetch failed', cause: { code: 'CERT_HAS_EXPIRED', message: 'certificate has expired' } }, /^TLS: certificate has expired \(CERT_HAS_EXPIRED\)$/],
  ])('%j', (e, want) => {
    expect(describeNetError(e)).toMatch(want);
  });
});
