import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDemoImage } from '../../../src/demo/image.js';
import { ensureBundle } from '../../bootstrap/bundle.js';
import { tempDir } from '../fixtures.js';

// An image server with its own CA (a homelab's Harbor or web server), judged through the real
// bundle: untrusted, the burn is refused before anything is written and the error says how to trust
// the CA; trusted the way docs/burner.md ("A private CA") says, the same burn goes through.
const work = tempDir('metis-private-ca-');
const img = join(work.dir, 'class.img');
const ca = join(work.dir, 'ca.pem');
let server: Server;
let url = '';

function makeCerts(dir: string): { key: Buffer; cert: Buffer } {
  const sh = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  sh(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=metis test lab CA']);
  sh(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=127.0.0.1']);
  writeFileSync(join(dir, 'ext'), 'subjectAltName=IP:127.0.0.1\n');
  sh(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '2', '-extfile', 'ext']);
  return { key: readFileSync(join(dir, 'srv.key')), cert: readFileSync(join(dir, 'srv.pem')) };
}

beforeAll(async () => {
  ensureBundle();
  await makeDemoImage(img, work.dir, { fat: 'own' });
  const image = readFileSync(img);
  server = createServer(makeCerts(work.dir), (req, res) => {
    if (req.url !== '/class.img') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': image.length }).end(image);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `https://127.0.0.1:${(server.address() as { port: number }).port}/class.img`;
}, 120_000);
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  work.cleanup();
});

/** `metis burn` of the served image to a file (async: the server answers from this event loop). */
function burn(name: string, env: Record<string, string>): Promise<{ code: number | null; err: string; out: string }> {
  const out = join(work.dir, `${name}.img`);
  const args = [join(process.cwd(), 'dist/metis.js'), 'burn', 'titan-13', '--to', out, '--image', url, '--no-verify', '--yes', '--inventory', join(process.cwd(), 'inventory'), '--cache', join(work.dir, `${name}-cache`)];
  // The machine's own NODE_EXTRA_CA_CERTS (if any) never holds this test's CA; dropped so each case says alone what is trusted.
  const { NODE_EXTRA_CA_CERTS: _drop, ...base } = process.env;
  const child = spawn(process.execPath, args, { env: { ...base, METIS_CODE_CACHE: 'off', METIS_K3S_TOKEN: `K10${'ab'.repeat(32)}::server:catest`, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, err, out })));
}

describe('an image server with a private CA', () => {
  it('untrusted: refused with exit 4 before anything is written; the error says how to trust the CA', async () => {
    const r = await burn('untrusted', {});
    expect(r.code, r.err).toBe(4);
    expect(r.err).toMatch(/TLS: .*private CA.*update-ca-certificates.*NODE_OPTIONS=--use-openssl-ca.*\((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/);
    expect(existsSync(r.out)).toBe(false);
  });

  it('trusted through the system store (SSL_CERT_FILE here) with NODE_OPTIONS=--use-openssl-ca: burned', async () => {
    const r = await burn('openssl-ca', { NODE_OPTIONS: '--use-openssl-ca', SSL_CERT_FILE: ca });
    expect(r.code, r.err).toBe(0);
    expect(readFileSync(r.out).subarray(510, 512).toString('hex')).toBe('55aa');
  });

  it('NODE_EXTRA_CA_CERTS works too (each node start pays for it: docs/burner.md)', async () => {
    const r = await burn('extra-ca', { NODE_EXTRA_CA_CERTS: ca });
    expect(r.code, r.err).toBe(0);
  });
});
