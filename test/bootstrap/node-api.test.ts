import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NodeApi } from '../../src/bootstrap/node-api.js';
import { KUBELET_KUBECONFIG } from '../../src/bootstrap/node-kubeconfig.js';
import { tempRoot } from '../helpers/context.js';
import { nodeObject, startKube, type KubeFixture } from '../helpers/kube.js';

// NodeApi.warm: the boot run opens the node's API connection while it waits for the network, against
// metis-kube-standin (a named stand-in; it logs every TLS handshake it accepts).
let kube: KubeFixture;
let root: string;
let cleanup: () => void;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const handshakes = (from = 0) => kube.state.log.slice(from).filter((l: { event: string }) => l.event === 'tls-connection').length;
const reads = (from = 0) => kube.state.log.slice(from).filter((l: { event: string; path?: string }) => l.event === 'request' && l.path === '/api/v1/nodes/titan-13').length;

beforeAll(async () => {
  kube = await startKube({ nodes: { 'titan-13': nodeObject('titan-13') } });
});
afterAll(async () => kube?.stop());
beforeEach(() => {
  ({ root, cleanup } = tempRoot('metis-nodeapi-'));
});
afterEach(() => cleanup());

describe('NodeApi.warm', () => {
  it('connects once the kubeconfig appears during the wait; the run then reads over that one connection', async () => {
    const api = new NodeApi(join(root, KUBELET_KUBECONFIG), root);
    const from = kube.state.log.length;
    let endWait!: () => void;
    const until = new Promise<void>((r) => (endWait = r));
    const warming = api.warm('titan-13', until, 100);
    await sleep(350);
    kube.writeKubeletKubeconfig(root, 'titan-13');
    // Connected before the wait is over: warm does not wait for it.
    expect(await warming).toBe('connected');
    endWait();
    expect(handshakes(from)).toBe(1);
    // The warm-up's read is dropped: the run reads the Node afresh, on the kept-alive connection.
    expect((await api.node('titan-13')).status).toBe(200);
    expect(await api.request('PATCH', '/api/v1/nodes/titan-13', { metadata: { labels: { x: 'y' } } }).then((r) => r.status)).toBe(200);
    expect(reads(from)).toBe(3);
    expect(handshakes(from)).toBe(1);
    api.close();
  });

  it('without a kubeconfig (a first boot) nothing is sent, and it ends with the wait', async () => {
    const api = new NodeApi(join(root, KUBELET_KUBECONFIG), root);
    const from = kube.state.log.length;
    const t0 = Date.now();
    expect(await api.warm('titan-13', sleep(400), 50)).toBe('no kubeconfig');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(390);
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(kube.state.log.length).toBe(from);
  });

  it('a wait already over sends nothing', async () => {
    kube.writeKubeletKubeconfig(root, 'titan-13');
    const api = new NodeApi(join(root, KUBELET_KUBECONFIG), root);
    const from = kube.state.log.length;
    expect(await api.warm('titan-13', Promise.resolve())).toBe('no kubeconfig');
    await sleep(200);
    expect(kube.state.log.length).toBe(from);
    api.close();
  });

  it('an API server that refuses is tried again until the wait ends, then left to the run', async () => {
    kube.writeKubeletKubeconfig(root, 'titan-13', 'https://127.0.0.1:1');
    const api = new NodeApi(join(root, KUBELET_KUBECONFIG), root);
    const t0 = Date.now();
    expect(await api.warm('titan-13', sleep(600), 100)).toBe('no answer');
    expect(Date.now() - t0).toBeLessThan(3_000);
    // The run's own request fails as it always did (the report says why), nothing kept from the warm-up.
    await expect(api.node('titan-13')).rejects.toThrow(/ECONNREFUSED/);
    api.close();
  });

  it('a wait that fails ends the warm-up as well', async () => {
    const api = new NodeApi(join(root, KUBELET_KUBECONFIG), root);
    expect(await api.warm('titan-13', sleep(100).then(() => Promise.reject(new Error('wait failed'))), 50)).toBe('no kubeconfig');
  });
});
