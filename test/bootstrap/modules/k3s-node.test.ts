import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { k3sNodeModule, OWNED_FILE, registrationOwnership } from '../../../src/bootstrap/modules/k3s-node.js';
import { convergeLoop, makeContext, tempRoot } from '../../helpers/context.js';
import { describeAction } from '../../../src/bootstrap/actions.js';
import { executeActions } from '../../../src/bootstrap/engine/execute.js';
import { nodeObject, startKube, type KubeFixture } from '../../helpers/kube.js';

/**
 * The Node is read and patched on metis-kube-standin (NOT a kube-apiserver; it enforces
 * NodeRestriction: a node identity may change only its own Node, never its spec) with a real client
 * certificate for system:node:titan-13, as the module does on a node. No k3s binary is involved.
 */
let kube: KubeFixture;
let root: string;
let cleanup: () => void;
beforeAll(async () => {
  kube = await startKube({});
});
afterAll(async () => kube?.stop());
beforeEach(() => {
  ({ root, cleanup } = tempRoot('metis-cap-k3snode-'));
  kube.state.nodes.set('titan-13', nodeObject('titan-13', { labels: { team: 'ops' }, taints: [{ key: 'admin', effect: 'NoSchedule' }] }));
  kube.writeKubeletKubeconfig(root, 'titan-13');
});
afterEach(() => cleanup());
// live: true is safe here: the module only talks to the API stand-in and writes ctx.stateDir (inside root).
const liveCtx = () => ({ ...makeContext({ root }), live: true });
const node = () => kube.state.nodes.get('titan-13');

describe('k3s_node: live labels for the keys Metis owns, with the node\'s own credential (API stand-in)', () => {
  it('adds, changes and removes only its own labels; others untouched; NodeRestriction labels and taints reported, not failed', async () => {
    const ctx = liveCtx();
    const base = { nodeName: 'titan-13' };
    const first = await convergeLoop(
      k3sNodeModule,
      { ...base, labels: { 'metis.io/class': 'rpi4', 'node-role.kubernetes.io/worker': 'true' }, taints: ['dedicated=storage:NoSchedule'] },
      ctx,
    );
    expect(first.reason).toMatch(/NodeRestriction.*node-role\.kubernetes\.io\/worker/);
    expect(first.reason).toMatch(/taints not on the Node.*kubectl taint node titan-13 dedicated=storage:NoSchedule/);
    expect(node().metadata.labels).toEqual({ 'kubernetes.io/hostname': 'titan-13', team: 'ops', 'metis.io/class': 'rpi4' });
    // A kubelet may not change its Node's taints: none were sent (the stand-in would refuse them).
    expect(node().spec.taints).toEqual([{ key: 'admin', effect: 'NoSchedule' }]);
    expect(statSync(join(ctx.stateDir, OWNED_FILE)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(join(ctx.stateDir, OWNED_FILE), 'utf8'))).toEqual({ labels: ['metis.io/class'] });
    // The manifest changes the label: Metis changes its own, never "team".
    await convergeLoop(k3sNodeModule, { ...base, labels: { 'metis.io/class': 'rpi5' } }, ctx);
    expect(node().metadata.labels).toEqual({ 'kubernetes.io/hostname': 'titan-13', team: 'ops', 'metis.io/class': 'rpi5' });
    await convergeLoop(k3sNodeModule, { ...base, labels: {} }, ctx);
    expect(node().metadata.labels).toEqual({ 'kubernetes.io/hostname': 'titan-13', team: 'ops' });
    // A taint the Node registered with is no note.
    const a = k3sNodeModule.args.parse({ ...base, taints: ['admin:NoSchedule'] });
    expect(await k3sNodeModule.check(a, liveCtx())).toEqual({ status: 'ok' });
  });

  it('the plan shows the patch; another node\'s credential is refused by the API and the task fails naming it', async () => {
    const a = k3sNodeModule.args.parse({ nodeName: 'titan-13', labels: { 'metis.io/pool': 'fast' } });
    const plan = await k3sNodeModule.check(a, liveCtx());
    expect(plan.status).toBe('change');
    expect(plan.status === 'change' && plan.actions.map(describeAction)).toEqual([
      'patch Node titan-13 labels metis.io/pool=fast (with /var/lib/rancher/k3s/agent/kubelet.kubeconfig)',
      'write state k3s-owned.json',
    ]);
    // The kubeconfig now holds titan-15's certificate: reading titan-13 is forbidden by NodeRestriction.
    kube.state.nodes.set('titan-15', nodeObject('titan-15'));
    kube.writeKubeletKubeconfig(root, 'titan-15');
    expect((await k3sNodeModule.check(a, liveCtx())).reason).toMatch(/not readable yet.*HTTP 403/);
    // A patch refused at apply time fails with the API's answer.
    const ctx = liveCtx();
    await expect(executeActions([{ kind: 'node-labels', kubeconfig: '/var/lib/rancher/k3s/agent/kubelet.kubeconfig', node: 'titan-13', labels: { x: 'y' } }], ctx)).rejects.toThrow(/patch Node titan-13 labels: HTTP 403/);
    expect(node().metadata.labels.x).toBeUndefined();
  });

  it('labels the config registered the Node with are owned from the k3s task on: the first run that reads the Node changes nothing, a later drop removes them', async () => {
    const ctx = liveCtx();
    // The k3s config task's record (registration asks k3s for these labels); node-role is not the node's to own.
    const own = await registrationOwnership(ctx, { 'metis.io/class': 'rpi4', 'node-role.kubernetes.io/worker': 'true' });
    expect(own).toEqual({ kind: 'state', file: OWNED_FILE, content: '{"labels":["metis.io/class"]}\n' });
    await executeActions([own!], ctx);
    expect(await registrationOwnership(ctx, { 'metis.io/class': 'rpi4' })).toBeNull();
    // k3s registered the Node with the label: nothing to change, not even the record.
    kube.state.nodes.get('titan-13').metadata.labels['metis.io/class'] = 'rpi4';
    const a = k3sNodeModule.args.parse({ nodeName: 'titan-13', labels: { 'metis.io/class': 'rpi4' } });
    expect(await k3sNodeModule.check(a, liveCtx())).toEqual({ status: 'ok' });
    // The manifest drops it while the k3s task's record keeps it: k3s_node removes it from the Node.
    expect(await registrationOwnership(ctx, {})).toBeNull();
    await convergeLoop(k3sNodeModule, { nodeName: 'titan-13', labels: {} }, ctx);
    expect(node().metadata.labels).toEqual({ 'kubernetes.io/hostname': 'titan-13', team: 'ops' });
    expect(JSON.parse(readFileSync(join(ctx.stateDir, OWNED_FILE), 'utf8'))).toEqual({ labels: [] });
  });

  it('skips with a reason under --root, when the Node is not registered, and before k3s joined', async () => {
    const a = k3sNodeModule.args.parse({ nodeName: 'titan-13' });
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
