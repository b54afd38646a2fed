import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONDITION } from '../../src/bootstrap/node-report.js';
import { metis } from '../burner/commands/run.js';
import { nodeObject, startKube, type KubeFixture } from '../helpers/kube.js';
import { startFleet, type Fleet } from './fleet-hosts.js';

// `metis push` end to end: two nodes (real sshd in namespaces, the real bundle on sysroots) that
// report onto their Nodes in metis-kube-standin (a named stand-in) with their kubelet certs;
// `metis status` sees the inventory change, `push --check` shows it, `push` writes and converges,
// and status reads current again. ssh runs through a wrapper recording its argv (what `ps` shows).
const root = process.getuid?.() === 0;
if (!root) console.warn('test/fleet/push.test.ts: skipped: network namespaces and sshd need root');

let fleet: Fleet;
let kube: KubeFixture;
let env: NodeJS.ProcessEnv;
const argvLog = () => readFileSync(join(fleet.dir, 'ssh-argv.log'), 'utf8');
const journald = (i: number) => readFileSync(join(fleet.nodes[i]!.root, 'etc/systemd/journald.conf.d/60-metis.conf'), 'utf8');

describe.skipIf(!root)('metis push', () => {
  beforeAll(async () => {
    fleet = await startFleet(2);
    kube = await startKube({ host: await fleet.apiAddress(), nodes: Object.fromEntries(fleet.nodes.map((n) => [n.name, nodeObject(n.name)])) });
    const wrapper = join(fleet.dir, 'ssh-wrapper');
    writeFileSync(wrapper, `#!/bin/sh\nprintf '%s\\n' "$*" >> ${join(fleet.dir, 'ssh-argv.log')}\nexec ssh "$@"\n`);
    chmodSync(wrapper, 0o755);
    env = { ...fleet.env, METIS_SSH: wrapper };
    for (const n of fleet.nodes) {
      kube.writeKubeletKubeconfig(n.root, n.name);
      await fleet.burnCard(n.name);
      expect([0, 2]).toContain(await fleet.converge(n.name));
    }
  }, 240_000);
  afterAll(async () => {
    await kube?.stop();
    await fleet?.stop();
  });

  const status = (...a: string[]) => metis(['status', '--inventory', fleet.inventory, '--kubeconfig', kube.kubeconfig, ...a], { env: { HOME: fleet.dir } });
  const push = (...a: string[]) => metis(['push', '--inventory', fleet.inventory, ...a], { env });

  it('status current → inventory change → push --check shows it → push writes, converges, status current', async () => {
    const [a, b] = fleet.nodes;
    const before = await status();
    expect(before.code, before.out).toBe(0);
    expect(before.out).toMatch(new RegExp(`^${a!.name} +True +True +Converged .* current$`, 'm'));

    // A label on node-01 and the class's journald limit: both nodes' manifests change.
    const nodeFile = join(fleet.inventory, 'nodes', `${a!.name}.yaml`);
    writeFileSync(nodeFile, readFileSync(nodeFile, 'utf8').replace('labels:\n', 'labels:\n  metis.io/pool: fast\n'));
    const classFile = join(fleet.inventory, 'classes/fleet-test.yaml');
    writeFileSync(classFile, readFileSync(classFile, 'utf8').replace('systemMaxUse: 64M', 'systemMaxUse: 96M'));
    const changed = await status();
    expect(changed.code).toBe(2);
    expect(changed.out).toContain(`${a!.name}: inventory changed since this card: run \`metis push ${a!.name}\``);

    const card = readFileSync(a!.card, 'utf8');
    const check = await push(a!.name, '--check');
    expect(check.code, check.out + check.err).toBe(2);
    expect(check.out).toContain(`--- ${a!.name}: node.yaml (would change)`);
    expect(check.out).toContain('+    metis.io/pool: fast');
    expect(check.out).toContain('-  systemMaxUse: 64M');
    expect(check.out).toContain('+  systemMaxUse: 96M');
    expect(check.out).toMatch(new RegExp(`^${a!.name} +drift +\\S.*journald`, 'm'));
    expect(readFileSync(a!.card, 'utf8')).toBe(card);
    expect(journald(0)).toContain('SystemMaxUse=64M');

    const done = await push(a!.name);
    expect(done.code, done.out + done.err).toBe(2);
    expect(done.out).toContain(`--- ${a!.name}: node.yaml (written)`);
    expect(done.out).toMatch(new RegExp(`^${a!.name} : ok=\\d+ +changed=[1-9]\\d* .* changed `, 'm'));
    expect(readFileSync(a!.card, 'utf8')).toContain('metis.io/pool: fast');
    expect(journald(0)).toContain('SystemMaxUse=96M');
    expect(journald(1)).toContain('SystemMaxUse=64M');
    expect(readFileSync(join(a!.root, 'etc/rancher/k3s/config.yaml'), 'utf8')).toContain('metis.io/pool=fast');
    // The converge after the push reported onto the Node.
    const c = kube.state.nodes.get(a!.name).status.conditions.find((x: { type: string }) => x.type === CONDITION);
    expect(c).toMatchObject({ status: 'True', reason: 'Converged' });

    const after = await status();
    expect(after.out).toMatch(new RegExp(`^${a!.name} +True +True +Converged .* current$`, 'm'));
    expect(after.out).toMatch(new RegExp(`^${b!.name} .* changed$`, 'm'));
    expect(after.code).toBe(2);
    expect((await status(a!.name)).code).toBe(0);

    // Pushing again: nothing to write, nothing to change.
    const again = await push(a!.name);
    expect(again.code).toBe(0);
    expect(again.out).toContain(`--- ${a!.name}: node.yaml unchanged`);

    // Secrets: never on an ssh command line, in any output, or back on the card.
    for (const s of [fleet.token, fleet.nodePassword]) {
      expect(argvLog()).not.toContain(s);
      for (const o of [check, done, again, before, changed, after]) expect(o.out + o.err).not.toContain(s);
      expect(readFileSync(a!.card, 'utf8')).not.toContain(s);
    }
    expect(argvLog()).toContain('--install-manifest -');
  }, 240_000);

  it('refused before any node is contacted: an invalid inventory (exit 3), no nodes (64), a missing secret source', async () => {
    const lines = argvLog().split('\n').length;
    const nodeFile = join(fleet.inventory, 'nodes', `${fleet.nodes[1]!.name}.yaml`);
    const good = readFileSync(nodeFile, 'utf8');
    writeFileSync(nodeFile, good.replace('labels:\n', 'labels:\n  "bad key!": x\n'));
    const bad = await push(fleet.nodes[1]!.name);
    expect(bad.code).toBe(3);
    expect(bad.err).toMatch(/labels/);
    writeFileSync(nodeFile, good);
    expect((await push()).code).toBe(64);
    const noSecret = await metis(['push', '--inventory', fleet.inventory, fleet.nodes[1]!.name], { env: { ...env, METIS_TEST_TOKEN: '' } });
    expect(noSecret.code).toBe(3);
    expect(noSecret.err).toMatch(/METIS_TEST_TOKEN is not set/);
    expect(argvLog().split('\n').length).toBe(lines);
  }, 60_000);
});
