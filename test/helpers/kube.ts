import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  /** A client cert for system:node:NAME (group system:nodes) signed by the stand-in's CA: PEM file paths. */
  mintNodeCert(name: string): { cert: string; key: string };
  /**
   * Writes ROOT/var/lib/rancher/k3s/agent/kubelet.kubeconfig as k3s lays it out (absolute paths to
   * client-kubelet.crt/.key and server-ca.crt) with a node cert for NAME; `server` overrides the URL.
   */
  writeKubeletKubeconfig(root: string, name: string, server?: string): string;
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
  // A K10 token as k3s prints it: the sha256 of the cluster CA bundle (what /cacerts serves), then the secret.
  const nodeToken = `K10${createHash('sha256').update(readFileSync(ca)).digest('hex')}::server:${randomBytes(16).toString('hex')}`;
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
    caFile: ca,
    caKeyFile: join(dir, 'ca.key'),
    state: { nodes: opts.nodes ?? {}, secrets: opts.secrets ?? {}, longhornNodes: opts.longhornNodes ?? {} },
  });
  const kubeconfig = join(dir, 'kubeconfig');
  const mintNodeCert = (name: string) => {
    const o = (...a: string[]) => execFileSync('openssl', a, { stdio: ['ignore', 'ignore', 'pipe'] });
    const base = join(dir, `node-${name}-${randomBytes(4).toString('hex')}`);
    o('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/O=system:nodes/CN=system:node:${name}`, '-keyout', `${base}.key`, '-out', `${base}.csr`);
    o('x509', '-req', '-in', `${base}.csr`, '-CA', ca, '-CAkey', join(dir, 'ca.key'), '-CAcreateserial', '-days', '2', '-out', `${base}.crt`);
    return { cert: `${base}.crt`, key: `${base}.key` };
  };
  const writeKubeletKubeconfig = (root: string, name: string, server = s.url) => {
    const agent = '/var/lib/rancher/k3s/agent';
    mkdirSync(join(root, agent), { recursive: true });
    const { cert, key } = mintNodeCert(name);
    writeFileSync(join(root, agent, 'client-kubelet.crt'), readFileSync(cert));
    writeFileSync(join(root, agent, 'client-kubelet.key'), readFileSync(key), { mode: 0o600 });
    writeFileSync(join(root, agent, 'server-ca.crt'), readFileSync(ca));
    const file = join(root, agent, 'kubelet.kubeconfig');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'clusters:',
        '- cluster:',
        `    certificate-authority: ${agent}/server-ca.crt`,
        `    server: ${server}`,
        '  name: local',
        'contexts:',
        '- context:',
        '    cluster: local',
        '    namespace: default',
        '    user: user',
        '  name: Default',
        'current-context: Default',
        'kind: Config',
        'preferences: {}',
        'users:',
        '- name: user',
        '  user:',
        `    client-certificate: ${agent}/client-kubelet.crt`,
        `    client-key: ${agent}/client-kubelet.key`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    return file;
  };
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
    mintNodeCert,
    writeKubeletKubeconfig,
    stop: async () => {
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
