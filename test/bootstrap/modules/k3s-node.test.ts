import { chmodSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { k3sNodeModule, OWNED_FILE } from '../../../src/bootstrap/modules/k3s-node.js';
import { convergeLoop, makeContext, tempRoot } from '../../helpers/context.js';
import { nodeObject, startKube, type KubeFixture } from '../../helpers/kube.js';

/**
 * The Node is read from metis-kube-standin (NOT a kube-apiserver; NodeRestriction enforced) with
 * the kubelet's client certificate, as the module does on a node. Writes go through `k3s kubectl
 * label|taint`: K3S STAND-IN (no k3s binary is downloadable), a script that applies them to the
 * same API stand-in as an admin and refuses node-role.kubernetes.io/* as NodeRestriction does.
 */
const STANDIN = `#!/usr/bin/env node
const https = require('https'); const { readFileSync } = require('fs');
const a = process.argv.slice(2); const i = a.indexOf('--kubeconfig'); a.splice(i, 2); a.shift();
const [verb, , name, ...rest] = a;
if (verb === 'get') { console.error('metis k3s stand-in: reads go through the API'); process.exit(1); }
const call = (method, body) => new Promise((res, rej) => {
  const req = https.request(process.env.METIS_CAP_KUBE_URL + '/api/v1/nodes/' + name, { method, ca: readFileSync(process.env.METIS_CAP_KUBE_CA),
    headers: { authorization: 'Bearer ' + process.env.METIS_CAP_KUBE_TOKEN, 'content-type': 'application/merge-patch+json' } }, (r) => {
    let t = ''; r.on('data', (c) => (t += c)); r.on('end', () => (r.statusCode === 200 ? res(JSON.parse(t)) : rej(new Error(r.statusCode + ' ' + t))));
  });
  req.on('error', rej); req.end(body && JSON.stringify(body));
});
(async () => {
  const n = await call('GET');
  const items = rest.filter((x) => x !== '--overwrite');
  const labels = {}; let taints = n.spec.taints || [];
  for (const it of items) {
    if (verb === 'label') {
      if (/^node-role\\.kubernetes\\.io\\//.test(it)) { console.error('is forbidden: NodeRestriction'); process.exit(1); }
      if (it.endsWith('-')) labels[it.slice(0, -1)] = null; else { const [k, v] = it.split('='); labels[k] = v; }
    } else {
      const del = it.endsWith('-'); const s = del ? it.slice(0, -1) : it; const [kv, effect] = s.split(':'); const [key, value] = kv.split('=');
      taints = taints.filter((t) => !(t.key === key && t.effect === effect));
      if (!del) taints.push(value ? { key, value, effect } : { key, effect });
    }
  }
  await call('PATCH', verb === 'label' ? { metadata: { labels } } : { spec: { taints } });
})().catch((e) => { console.error(String(e)); process.exit(1); });
`;

let kube: KubeFixture;
let root: string;
let cleanup: () => void;
beforeAll(async () => {
  kube = await startKube({});
  process.env.METIS_CAP_KUBE_URL = kube.url;
  process.env.METIS_CAP_KUBE_CA = kube.caFile;
  process.env.METIS_CAP_KUBE_TOKEN = kube.adminToken;
});
afterAll(async () => {
  for (const k of ['METIS_CAP_KUBE_URL', 'METIS_CAP_KUBE_CA', 'METIS_CAP_KUBE_TOKEN']) delete process.env[k];
  await kube?.stop();
});
beforeEach(() => {
  ({ root, cleanup } = tempRoot('metis-cap-k3snode-'));
  writeFileSync(join(root, 'k3s-standin'), STANDIN);
  chmodSync(join(root, 'k3s-standin'), 0o755);
  kube.state.nodes.set('titan-13', nodeObject('titan-13', { labels: { team: 'ops' }, taints: [{ key: 'admin', effect: 'NoSchedule' }] }));
  kube.writeKubeletKubeconfig(root, 'titan-13');
});
afterEach(() => cleanup());
// live: true is safe here: the module only reads the API, runs the given binary and writes ctx.stateDir (inside root).
const liveCtx = () => ({ ...makeContext({ root }), live: true });
const node = () => kube.state.nodes.get('titan-13');

describe('k3s_node: live labels/taints for the keys Metis owns (k3s stand-in)', () => {
  it('adds, changes and removes only its own keys; others untouched; NodeRestriction keys reported, not failed', async () => {
    const ctx = liveCtx();
    const base = { nodeName: 'titan-13', binary: join(root, 'k3s-standin') };
    const first = await convergeLoop(
      k3sNodeModule,
      { ...base, labels: { 'metis.io/class': 'rpi4', 'node-role.kubernetes.io/worker': 'true' }, taints: ['dedicated=storage:NoSchedule'] },
      ctx,
    );
    expect(first.reason).toMatch(/NodeRestriction.*node-role\.kubernetes\.io\/worker/);
    expect(node().metadata.labels).toEqual({ 'kubernetes.io/hostname': 'titan-13', team: 'ops', 'metis.io/class': 'rpi4' });
    expect(node().spec.taints).toEqual([{ key: 'admin', effect: 'NoSchedule' }, { key: 'dedicated', value: 'storage', effect: 'NoSchedule' }]);
    expect(statSync(join(ctx.stateDir, OWNED_FILE)).mode & 0o777).toBe(0o600);
    // manifest drops the taint and changes the label: Metis removes/changes its own, never "team" or "admin"
    await convergeLoop(k3sNodeModule, { ...base, labels: { 'metis.io/class': 'rpi5' } }, ctx);
    expect(node().metadata.labels).toEqual({ 'kubernetes.io/hostname': 'titan-13', team: 'ops', 'metis.io/class': 'rpi5' });
    expect(node().spec.taints).toEqual([{ key: 'admin', effect: 'NoSchedule' }]);
    await convergeLoop(k3sNodeModule, { ...base, labels: {} }, ctx);
    expect(node().metadata.labels).toEqual({ 'kubernetes.io/hostname': 'titan-13', team: 'ops' });
  });

  it('skips with a reason under --root and when the Node is not registered', async () => {
    const a = k3sNodeModule.args.parse({ nodeName: 'titan-13', binary: join(root, 'k3s-standin') });
    expect((await k3sNodeModule.check(a, makeContext({ root }))).reason).toMatch(/not live/);
    // Not registered: the API answers 404 for the node's own name.
    kube.state.nodes.delete('titan-13');
    expect((await k3sNodeModule.check(a, liveCtx())).reason).toMatch(/not readable yet.*HTTP 404/);
    // Not joined: no kubelet kubeconfig yet, so no request at all.
    cleanup();
    ({ root, cleanup } = tempRoot('metis-cap-k3snode-'));
    expect((await k3sNodeModule.check(a, liveCtx())).reason).toMatch(/not readable yet.*k3s has not joined/);
  });
});
