import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createSign, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, createServer as netServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REGISTRY_BIN = '/usr/bin/docker-registry';

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = netServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => res(port));
    });
  });
}

export interface Registry {
  url: string;
  host: string;
  /** Token requests the token server answered (with the Authorization header it got). */
  tokenRequests: { scope: string | null; authorization: string | undefined }[];
  stop(): Promise<void>;
}

/**
 * A real distribution registry (Debian's docker-registry) on loopback with filesystem storage in a
 * temp dir. With `token`, it runs distribution's own token auth: a small loopback token server
 * signs RS256 JWTs with a throwaway key whose self-signed certificate the registry trusts.
 */
export async function startRegistry(opts: { token?: { user: string; password: string } } = {}): Promise<Registry> {
  const dir = await mkdtemp(join(tmpdir(), 'metis-burnerA-registry-'));
  const port = await freePort();
  const tokenRequests: Registry['tokenRequests'] = [];
  let tokenServer: Server | undefined;
  let auth = '';
  if (opts.token) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=metis-test-token', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    const key = await readFile(join(dir, 'key.pem'), 'utf8');
    const der = execFileSync('openssl', ['x509', '-in', join(dir, 'cert.pem'), '-outform', 'DER']).toString('base64');
    const want = `Basic ${Buffer.from(`${opts.token.user}:${opts.token.password}`).toString('base64')}`;
    tokenServer = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      const scope = u.searchParams.get('scope');
      tokenRequests.push({ scope, authorization: req.headers.authorization });
      if (req.headers.authorization !== want) {
        res.writeHead(401).end();
        return;
      }
      const [, name, actions] = (scope ?? '::').split(':');
      const now = Math.floor(Date.now() / 1000);
      const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const head = b64({ alg: 'RS256', typ: 'JWT', x5c: [der] });
      const claims = b64({ iss: 'metis-test-issuer', sub: opts.token!.user, aud: 'metis-test-registry', exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access: scope ? [{ type: 'repository', name, actions: (actions ?? '').split(',') }] : [] });
      const sig = createSign('RSA-SHA256').update(`${head}.${claims}`).sign(key).toString('base64url');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `${head}.${claims}.${sig}` }));
    });
    await new Promise<void>((r) => tokenServer!.listen(0, '127.0.0.1', () => r()));
    const tport = (tokenServer.address() as AddressInfo).port;
    auth = `auth:
  token:
    realm: http://127.0.0.1:${tport}/token
    service: metis-test-registry
    issuer: metis-test-issuer
    rootcertbundle: ${join(dir, 'cert.pem')}
`;
  }
  await writeFile(
    join(dir, 'config.yml'),
    `version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: ${join(dir, 'data')}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
${auth}`,
  );
  const proc: ChildProcess = spawn(REGISTRY_BIN, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (proc.exitCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (proc.exitCode === null) proc.kill('SIGKILL');
    }
    await new Promise((r) => (tokenServer ? tokenServer.close(r) : r(null)));
    await rm(dir, { recursive: true, force: true });
  };
  // Bounded wait for the listener: 100 tries × 50 ms.
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`${url}/v2/`).then((r) => r.status === 200 || r.status === 401, () => false);
    if (ok) return { url, host: `127.0.0.1:${port}`, tokenRequests, stop };
    if (proc.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new Error(`docker-registry did not start: ${stderr.slice(0, 500)}`);
}
