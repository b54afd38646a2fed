import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeError, kubeDelete, kubeGet, kubectl, serverVersion } from '../../src/lib/kubectl.js';
import { nodeObject, startKube, type KubeFixture } from '../helpers/kube.js';

// The real kubectl client against metis-kube-standin (a named stand-in: no kube-apiserver is
// installable here). These tests pin the stand-in's rules as much as the helper's behaviour.
let kube: KubeFixture;
const opts = () => ({ kubeconfig: kube.kubeconfig, timeoutMs: 10_000 });

function raw(method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, kube.url);
    const req = request(u, { method, headers, ca: readFileSync(kube.caFile) }, (res) => {
      let b = '';
      res.on('data', (c) => (b += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b ? JSON.parse(b) : null }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

beforeAll(async () => {
  kube = await startKube({ nodes: { 'titan-13': nodeObject('titan-13', { labels: { role: 'worker' } }), 'titan-15': nodeObject('titan-15') }, nodeNames: ['titan-13', 'titan-15'] });
});
afterAll(async () => kube?.stop());

describe('kubectl helper against the stand-in', () => {
  it('reads the server version and nodes through the real kubectl', async () => {
    expect((await serverVersion(opts())).gitVersion).toBe('v1.31.5+k3s1');
    const list = await kubeGet<{ items: Array<{ metadata: { name: string } }> }>('/api/v1/nodes', opts());
    expect(list?.items.map((n) => n.metadata.name).sort()).toEqual(['titan-13', 'titan-15']);
    expect(await kubeGet('/api/v1/nodes/nope', opts())).toBeNull();
  });

  it('kubectl get nodes (discovery path) works too', async () => {
    const out = await kubectl(['get', 'nodes', '-o', 'jsonpath={.items[*].metadata.name}'], opts());
    expect(out.split(' ').sort()).toEqual(['titan-13', 'titan-15']);
  });

  it('classifies failures: unauthorized, unreachable, missing binary', async () => {
    const bad = kube.kubeconfig.replace(/kubeconfig$/, 'bad-kubeconfig');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(bad, readFileSync(kube.kubeconfig, 'utf8').replace(kube.adminToken, 'wrong-token'));
    await expect(kubeGet('/api/v1/nodes', { kubeconfig: bad })).rejects.toMatchObject({ kind: 'unauthorized' });
    const gone = kube.kubeconfig.replace(/kubeconfig$/, 'gone-kubeconfig');
    writeFileSync(gone, readFileSync(kube.kubeconfig, 'utf8').replace(/server: .*/, 'server: https://127.0.0.1:1'));
    await expect(kubeGet('/version', { kubeconfig: gone, timeoutMs: 3000 })).rejects.toMatchObject({ kind: 'unreachable' });
    const err: KubeError = await kubeGet('/version', { ...opts(), env: { ...process.env, KUBECTL: '/nonexistent/kubectl' } }).catch((e: KubeError) => e) as KubeError;
    expect(err).toBeInstanceOf(KubeError);
    expect(err.kind).toBe('missing');
    expect(err.message).toMatch(/install kubectl/);
  });

  it('NodeRestriction: a node may patch its own status, not another node, and never delete', async () => {
    const me = { authorization: `Bearer ${kube.nodeTokens['titan-13']}`, 'content-type': 'application/strategic-merge-patch+json' };
    const cond = { status: { conditions: [{ type: 'MetisConverged', status: 'True', reason: 'Converged' }] } };
    expect((await raw('PATCH', '/api/v1/nodes/titan-13/status', me, JSON.stringify(cond))).status).toBe(200);
    const types = kube.state.nodes.get('titan-13').status.conditions.map((c: any) => c.type);
    expect(types).toEqual(['Ready', 'MetisConverged']);
    expect((await raw('PATCH', '/api/v1/nodes/titan-15/status', me, JSON.stringify(cond))).status).toBe(403);
    expect((await raw('DELETE', '/api/v1/nodes/titan-13', me)).status).toBe(403);
    expect((await raw('GET', '/api/v1/nodes', {})).status).toBe(401);
  });

  it("k3s's node-password rule: same name + other password is refused until the Node is deleted", async () => {
    const join = (name: string, pw: string) =>
      raw('GET', '/v1-k3s/serving-kubelet.crt', { authorization: `Basic ${Buffer.from(`node:${kube.nodeToken}`).toString('base64')}`, 'k3s-node-name': name, 'k3s-node-password': pw });
    expect((await join('titan-15', 'pw-one')).status).toBe(200);
    expect((await join('titan-15', 'pw-one')).status).toBe(200);
    const refused = await join('titan-15', 'pw-two');
    expect(refused.status).toBe(403);
    expect(refused.body.message).toMatch(/Node password rejected/);
    expect(await kubeDelete('/api/v1/nodes/titan-15', opts())).toBe(true);
    expect(kube.state.secrets.has('kube-system/titan-15.node-password.k3s')).toBe(false);
    expect((await join('titan-15', 'pw-two')).status).toBe(200);
    expect(await kubeDelete('/api/v1/nodes/absent', opts())).toBe(false);
    const badToken = await raw('GET', '/v1-k3s/serving-kubelet.crt', { authorization: `Basic ${Buffer.from('node:K10wrong').toString('base64')}`, 'k3s-node-name': 'x', 'k3s-node-password': 'y' });
    expect(badToken.status).toBe(401);
  });
});
