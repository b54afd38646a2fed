import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// @ts-expect-error plain ESM fixture without types
import { startKubeStandin, nodeObject } from '../fixtures/kube-standin/server.mjs';

export { nodeObject };

/** A running metis-kube-standin (NOT a kube-apiserver) with a CA, an admin token and a kubeconfig. */
export interface KubeFixture {
  url: string;
  dir: string;
  kubeconfig: string;
  adminToken: string;
  /** The k3s server token agents join with. */
  nodeToken: string;
  caFile: string;
  /** The stand-in's live state: nodes, secrets, longhornNodes (Maps) and a request log. */
  state: { nodes: Map<string, any>; secrets: Map<string, any>; longhornNodes: Map<string, any>; log: any[] };
  /** A bearer token that authenticates as system:node:NAME (NodeRestriction applies). */
  nodeTokens: Record<string, string>;
  stop(): Promise<void>;
}

/** Test CA + server cert for 127.0.0.1 (and optional extra IPs), made with the real openssl. */
export function makeCa(dir: string, ips: string[] = []): { ca: string; cert: string; key: string } {
  const o = (...a: string[]) => execFileSync('openssl', a, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ca = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  o('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=metis-kube-standin-ca', '-keyout', caKey, '-out', ca);
  const key = join(dir, 'srv.key');
  const csr = join(dir, 'srv.csr');
  const cert = join(dir, 'srv.crt');
  o('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=metis-kube-standin', '-keyout', key, '-out', csr);
  const ext = join(dir, 'san.ext');
  writeFileSync(ext, `subjectAltName=${['127.0.0.1', ...ips].map((i) => `IP:${i}`).join(',')},DNS:localhost\n`);
  o('x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', cert);
  return { ca, cert, key };
}

export async function startKube(opts: { nodes?: Record<string, any>; secrets?: Record<string, any>; longhornNodes?: Record<string, any>; nodeNames?: string[]; host?: string } = {}): Promise<KubeFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'metis-kube-'));
  const { ca, cert, key } = makeCa(dir, opts.host && opts.host !== '127.0.0.1' ? [opts.host] : []);
  const adminToken = randomBytes(16).toString('hex');
  const nodeToken = `K10${randomBytes(32).toString('hex')}::server:${randomBytes(16).toString('hex')}`;
  const tokens: Record<string, { user: string; groups: string[] }> = { [adminToken]: { user: 'admin', groups: ['system:masters'] } };
  const nodeTokens: Record<string, string> = {};
  for (const n of opts.nodeNames ?? Object.keys(opts.nodes ?? {})) {
    const t = randomBytes(16).toString('hex');
    nodeTokens[n] = t;
    tokens[t] = { user: `system:node:${n}`, groups: ['system:nodes'] };
  }
  const s = await startKubeStandin({
    host: opts.host ?? '127.0.0.1',
    port: 0,
    cert: readFileSync(cert),
    key: readFileSync(key),
    ca: readFileSync(ca),
    tokens,
    nodeToken,
    state: { nodes: opts.nodes ?? {}, secrets: opts.secrets ?? {}, longhornNodes: opts.longhornNodes ?? {} },
  });
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: standin',
      '  cluster:',
      `    server: ${s.url}`,
      `    certificate-authority-data: ${readFileSync(ca).toString('base64')}`,
      'users:',
      '- name: admin',
      '  user:',
      `    token: ${adminToken}`,
      'contexts:',
      '- name: standin',
      '  context: {cluster: standin, user: admin}',
      'current-context: standin',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return {
    url: s.url,
    dir,
    kubeconfig,
    adminToken,
    nodeToken,
    caFile: ca,
    state: s.state,
    nodeTokens,
    stop: async () => {
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
