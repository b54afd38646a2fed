import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { manifestHash } from '../../src/manifest/hash.js';
import { ANNOTATION, CONDITION, reportOnNode } from '../../src/bootstrap/node-report.js';
import type { Report } from '../../src/bootstrap/report.js';
import { run, warmRun, type RunMemo } from '../../src/bootstrap/engine/run.js';
import { exampleManifest, exampleManifestText, tempRoot } from '../helpers/context.js';
import { nodeObject, startKube, type KubeFixture } from '../helpers/kube.js';
import { makeSysroot } from './sysroot.js';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { debianNode18 } from './debian-debs.js';
import { BUNDLE, bundleNodeFlags, ensureBundle } from './bundle.js';

// The report onto the Node, against metis-kube-standin (a named stand-in enforcing NodeRestriction)
// with a real client certificate for system:node:NAME, as k3s's kubelet.kubeconfig carries.
const TOKEN = /token: (\S+)/.exec(exampleManifestText)![1]!;
const NODE_PASSWORD = /nodePassword: (\S+)/.exec(exampleManifestText)![1]!;
let kube: KubeFixture;
let root: string;
let cleanup: () => void;

const report = (over: Partial<Report> = {}): Report => ({
  version: 'dev',
  mode: 'apply',
  manifestHash: 'x',
  manifestPath: '/boot/firmware/metis/node.yaml',
  startedAt: '2026-12-02T07:00:00.000Z',
  durationMs: 1234,
  phases: { loadMs: 1, factsMs: 1, planMs: 1, applyMs: 1, handlersMs: 1 },
  summary: { ok: 20, changed: 1, failed: 0, skipped: 3 },
  tasks: [{ name: 'journald drop-in', module: 'journald', status: 'changed', durationMs: 3 }],
  ...over,
});
const cond = (name = 'titan-13') => kube.state.nodes.get(name).status.conditions.find((c: { type: string }) => c.type === CONDITION);

beforeAll(async () => {
  kube = await startKube({ nodes: { 'titan-13': nodeObject('titan-13'), 'titan-15': nodeObject('titan-15') } });
});
afterAll(async () => kube?.stop());
beforeEach(() => {
  ({ root, cleanup } = tempRoot('metis-nodereport-'));
});
afterEach(() => cleanup());

describe('reportOnNode', () => {
  it('sets MetisConverged and the annotations with the node cert; the transition time moves only on a flip', async () => {
    kube.writeKubeletKubeconfig(root, 'titan-13');
    const m = exampleManifest();
    const first = await reportOnNode(report(), { root, manifest: m, now: new Date('2026-12-02T07:00:05Z') });
    expect(first).toEqual({ status: 'reported', node: 'titan-13', condition: 'Converged' });
    expect(cond()).toMatchObject({ status: 'True', reason: 'Converged', lastHeartbeatTime: '2026-12-02T07:00:05Z', lastTransitionTime: '2026-12-02T07:00:05Z' });
    expect(cond().message).toBe('apply ok=20 changed=1 failed=0 skipped=3 in 1.2s');
    const ann = kube.state.nodes.get('titan-13').metadata.annotations;
    expect(ann[ANNOTATION.hash]).toBe(manifestHash(m));
    expect(ann[ANNOTATION.summary]).toBe('ok=20 changed=1 failed=0 skipped=3');
    expect(ann[ANNOTATION.drift]).toBe('0');
    expect(ann[ANNOTATION.lastRun]).toBe('2026-12-02T07:00:00.000Z');
    expect(ann[ANNOTATION.schemas]).toBe('1');
    // The request log shows who wrote it: the node itself, not an admin.
    expect(kube.state.log.filter((l: { event: string }) => l.event === 'node-patched').map((l: { user: string }) => l.user)).toContain('system:node:titan-13');

    await reportOnNode(report(), { root, manifest: m, now: new Date('2026-12-02T07:15:05Z') });
    expect(cond()).toMatchObject({ lastHeartbeatTime: '2026-12-02T07:15:05Z', lastTransitionTime: '2026-12-02T07:00:05Z' });

    const drifted = report({ mode: 'check', summary: { ok: 20, changed: 2, failed: 0, skipped: 3 }, tasks: [{ name: 'sshd drop-in', module: 'template', status: 'changed', durationMs: 1 }] });
    expect((await reportOnNode(drifted, { root, manifest: m, now: new Date('2026-12-02T07:20:00Z') })).condition).toBe('Drifted');
    expect(cond()).toMatchObject({ status: 'False', reason: 'Drifted', lastTransitionTime: '2026-12-02T07:20:00Z' });
    expect(cond().message).toContain('drifted: sshd drop-in');
    expect(kube.state.nodes.get('titan-13').metadata.annotations[ANNOTATION.drift]).toBe('2');

    const failed = report({ summary: { ok: 1, changed: 0, failed: 1, skipped: 0 }, tasks: [{ name: 'k3s join', module: 'k3s_join', status: 'failed', durationMs: 1 }] });
    expect((await reportOnNode(failed, { root, manifest: m })).condition).toBe('Failed');
    expect(cond()).toMatchObject({ status: 'False', reason: 'Failed' });
    expect(cond().message).toMatch(/failed: k3s join$/);
    // A failed task's reason goes with its name: the operator's `metis status` names the missing disk.
    const noDisk = 'no block device with UUID 6d1c0a55-2f0e-4c61-9a7e-0e2e00000b02 (for /mnt/e2e-b): is the disk attached?; /etc/fstab left as it was';
    const diskGone = report({ summary: { ok: 1, changed: 0, failed: 1, skipped: 2 }, tasks: [{ name: 'data disks in fstab by UUID, mounted', module: 'mount', status: 'failed', reason: noDisk, durationMs: 1 }] });
    expect((await reportOnNode(diskGone, { root, manifest: m })).condition).toBe('Failed');
    expect(cond().message).toContain(`failed: data disks in fstab by UUID, mounted (${noDisk})`);
    expect((await reportOnNode(report({ error: 'lock held' }), { root, manifest: m })).condition).toBe('Failed');
    expect(cond().message).toContain('could not run: lock held');
    // Nothing secret reached the API server.
    const stored = JSON.stringify([...kube.state.nodes.values()]);
    expect(stored).not.toContain(TOKEN);
    expect(stored).not.toContain(NODE_PASSWORD);
  });

  it("NodeRestriction: another node's Node is refused; the outcome says so and nothing throws", async () => {
    kube.writeKubeletKubeconfig(root, 'titan-15');
    const before = JSON.stringify(kube.state.nodes.get('titan-13'));
    const r = await reportOnNode(report(), { root, manifest: exampleManifest() });
    expect(r.status).toBe('failed');
    expect(r.reason).toMatch(/titan-13: HTTP 403/);
    expect(JSON.stringify(kube.state.nodes.get('titan-13'))).toBe(before);
  });

  it('skips without k3s having run, or without k3s in the manifest', async () => {
    expect(await reportOnNode(report(), { root, manifest: exampleManifest() })).toMatchObject({ status: 'skipped', reason: expect.stringMatching(/k3s has not run here yet/) });
    const { k3s: _k, ...noK3s } = exampleManifest();
    expect((await reportOnNode(report(), { root, manifest: noK3s })).reason).toMatch(/no k3s section/);
    expect((await reportOnNode(report(), { root })).status).toBe('skipped');
  });

  it('an unreachable or silent API server fails the report within its bound, never the caller', async () => {
    kube.writeKubeletKubeconfig(root, 'titan-13', 'https://127.0.0.1:1');
    const refused = await reportOnNode(report(), { root, manifest: exampleManifest(), timeoutMs: 3000 });
    expect(refused.status).toBe('failed');
    expect(refused.reason).toMatch(/ECONNREFUSED/);
    // A server that accepts and never answers: the bound holds.
    const silent: Server = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (silent.address() as { port: number }).port;
      kube.writeKubeletKubeconfig(root, 'titan-13', `https://127.0.0.1:${port}`);
      const t0 = Date.now();
      const r = await reportOnNode(report(), { root, manifest: exampleManifest(), timeoutMs: 1500 });
      expect(r).toMatchObject({ status: 'failed', reason: expect.stringMatching(/no answer within 1500 ms/) });
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      silent.close();
    }
  });
});

describe('a bootstrap run reports onto its Node', () => {
  it('run() against a sysroot: the report carries node: reported, the Node the condition', async () => {
    makeSysroot(root);
    kube.writeKubeletKubeconfig(root, 'titan-13');
    mkdirSync(join(root, 'boot/firmware/metis'), { recursive: true });
    writeFileSync(join(root, 'boot/firmware/metis/node.yaml'), exampleManifestText);
    const r = await run({ root, checkMode: false, logLevel: 'silent' });
    expect(r.error).toBeUndefined();
    expect(r.node).toMatchObject({ status: 'reported', node: 'titan-13' });
    expect(cond()).toMatchObject({ status: r.summary.failed ? 'False' : 'True' });
    // A --tags run is partial: it does not claim convergence.
    const early = await run({ root, checkMode: false, tags: ['early'], logLevel: 'silent' });
    expect(early.node).toBeUndefined();
  });

  it("the boot run's connection, opened during its wait, is the full run's: one TLS handshake for the read and the report", async () => {
    makeSysroot(root);
    kube.writeKubeletKubeconfig(root, 'titan-13');
    mkdirSync(join(root, 'boot/firmware/metis'), { recursive: true });
    writeFileSync(join(root, 'boot/firmware/metis/node.yaml'), exampleManifestText);
    const memo: RunMemo = {};
    await run({ root, checkMode: false, tags: ['early'], logLevel: 'silent', memo });
    const from = kube.state.log.length;
    const log = kube.state.log;
    expect(await warmRun({ root, checkMode: false, logLevel: 'silent', memo }, new Promise((r) => setTimeout(r, 1_500)))).toBe('connected');
    expect(log.slice(from).filter((l: { event: string }) => l.event === 'tls-connection')).toHaveLength(1);
    const r = await run({ root, checkMode: false, logLevel: 'silent', memo });
    memo.lock?.release();
    expect(r.node).toMatchObject({ status: 'reported', node: 'titan-13' });
    const after = log.slice(from);
    expect(after.filter((l: { event: string }) => l.event === 'tls-connection')).toHaveLength(1);
    expect(after.filter((l: { event: string; user?: string }) => l.event === 'node-patched' && l.user === 'system:node:titan-13').length).toBeGreaterThan(0);
    // The run closed it: nothing is kept for a later run.
    expect(memo.apis?.size ?? 0).toBe(0);
  });
});

// The bundle as the node runs it: Debian's node 18, the shebang's flags, the engine compiled through
// vm.Script. The HTTPS client is loaded on first use there (src/bootstrap/https.ts).
const node18 = debianNode18();
if ('skip' in node18) console.warn(`skip: node 18 report run: ${node18.skip}`);

describe.skipIf('skip' in node18)('the bundle on Debian 12\'s node 18 reports onto its Node', () => {
  it('a run of the bundle loads the HTTPS client when it reports, and the Node gets the condition', async () => {
    ensureBundle();
    makeSysroot(root);
    kube.writeKubeletKubeconfig(root, 'titan-13');
    const manifest = join(root, 'node.yaml');
    writeFileSync(manifest, exampleManifestText);
    const n = node18 as Exclude<typeof node18, { skip: string }>;
    const [cmd, ...argv] = n.argv([...bundleNodeFlags(), BUNDLE, '--root', root, '--manifest', manifest]);
    // Not spawnSync: the API stand-in answers from this process's event loop.
    const child = spawn(cmd!, argv, { env: { ...process.env, ...n.env, NODE_EXTRA_CA_CERTS: '', CACHE_DIRECTORY: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const code = await new Promise<number | null>((r) => child.on('close', r)).finally(() => clearTimeout(timer));
    expect(code, out).toBe(2);
    const last = JSON.parse(readFileSync(join(root, 'var/lib/metis/last-run.json'), 'utf8')) as { node?: { status: string; node: string; reason?: string } };
    expect(last.node, out).toMatchObject({ status: 'reported', node: 'titan-13' });
    expect(cond()).toMatchObject({ type: CONDITION });
    expect(out).not.toContain(TOKEN);
    expect(out).not.toContain(NODE_PASSWORD);
  });
});
