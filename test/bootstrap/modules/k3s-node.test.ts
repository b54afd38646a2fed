import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { k3sNodeModule, OWNED_FILE } from '../../../src/bootstrap/modules/k3s-node.js';
import { convergeLoop, makeContext, tempRoot } from '../../helpers/context.js';

/**
 * K3S STAND-IN (no k3s binary is downloadable): a script answering `k3s kubectl get node -o json`,
 * `label node` and `taint node` from a JSON file, refusing node-role.kubernetes.io/* as NodeRestriction does.
 */
const STANDIN = `#!/usr/bin/env node
const fs = require('fs'); const db = process.env.METIS_CAP_NODE_DB; const n = JSON.parse(fs.readFileSync(db, 'utf8'));
const a = process.argv.slice(2); const i = a.indexOf('--kubeconfig'); a.splice(i, 2); a.shift();
if (a[0] === 'get') { process.stdout.write(JSON.stringify(n)); process.exit(0); }
const items = a.slice(3).filter((x) => x !== '--overwrite');
for (const it of items) {
  if (a[0] === 'label') {
    if (/^node-role\\.kubernetes\\.io\\//.test(it)) { console.error('is forbidden: NodeRestriction'); process.exit(1); }
    if (it.endsWith('-')) delete n.metadata.labels[it.slice(0, -1)]; else { const [k, v] = it.split('='); n.metadata.labels[k] = v; }
  } else {
    const del = it.endsWith('-'); const s = del ? it.slice(0, -1) : it; const [kv, effect] = s.split(':'); const [key, value] = kv.split('=');
    n.spec.taints = (n.spec.taints || []).filter((t) => !(t.key === key && t.effect === effect));
    if (!del) n.spec.taints.push(value ? { key, value, effect } : { key, effect });
  }
}
fs.writeFileSync(db, JSON.stringify(n));
`;

let root: string;
let cleanup: () => void;
let db: string;
beforeEach(() => {
  ({ root, cleanup } = tempRoot('metis-cap-k3snode-'));
  writeFileSync(join(root, 'k3s-standin'), STANDIN);
  chmodSync(join(root, 'k3s-standin'), 0o755);
  db = join(root, 'node.json');
  writeFileSync(db, JSON.stringify({ metadata: { labels: { 'kubernetes.io/hostname': 'titan-13', 'team': 'ops' } }, spec: { taints: [{ key: 'admin', effect: 'NoSchedule' }] } }));
  process.env.METIS_CAP_NODE_DB = db;
});
afterEach(() => {
  delete process.env.METIS_CAP_NODE_DB;
  cleanup();
});
// live: true is safe here: the module only runs the given binary and writes ctx.stateDir (inside root).
const liveCtx = () => ({ ...makeContext({ root }), live: true });
const node = () => JSON.parse(readFileSync(db, 'utf8'));

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
    writeFileSync(db, 'not json'); // the stand-in then exits non-zero, as kubectl does for a missing Node
    expect((await k3sNodeModule.check(a, liveCtx())).reason).toMatch(/not readable yet/);
  });
});
