import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { joinPreflight } from '../../../src/bootstrap/modules/k3s-preflight.js';
import { describeAction } from '../../../src/bootstrap/actions.js';
import { k3sJoinModule } from '../../../src/bootstrap/modules/k3s-join.js';
import { findSecrets } from '../../../src/manifest/secret.js';
import { k3sModule, parseVersion, renderConfig } from '../../../src/bootstrap/modules/k3s.js';
import { convergeLoop, exampleManifest, makeContext, tempRoot } from '../../helpers/context.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

/** A real HTTPS server on loopback serving /cacerts, with a cert made by openssl. */
let server: Server;
let url: string;
let caPem: Buffer;
const certDir = tempRoot('metis-k3s-tls-');
beforeAll(async () => {
  const key = join(certDir.root, 'key.pem');
  const cert = join(certDir.root, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=k3s-test'], { stdio: 'ignore' });
  caPem = readFileSync(cert);
  server = createServer({ key: readFileSync(key), cert: caPem }, (req, res) => {
    if (req.url === '/cacerts') res.end(caPem);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  certDir.cleanup();
});

const tokenFor = (ca: Buffer) => `K10${createHash('sha256').update(ca).digest('hex')}::server:s3cr3t-join-password`;

describe('k3s join preflight (real HTTPS on loopback)', () => {
  it('passes when /cacerts hashes to the token’s CA hash', async () => {
    await expect(joinPreflight(url, tokenFor(caPem), { timeoutMs: 5000 })).resolves.toEqual({ caSha256: createHash('sha256').update(caPem).digest('hex') });
  });
  it('fails with "token does not belong to this cluster" for another cluster’s token', async () => {
    await expect(joinPreflight(url, tokenFor(Buffer.from('other CA')), { timeoutMs: 5000 })).rejects.toThrow(/token does not belong to this cluster/);
  });
  it('fails within its time bound when the server is unreachable', async () => {
    const started = Date.now();
    await expect(joinPreflight('https://127.0.0.1:1', tokenFor(caPem), { timeoutMs: 1500, retryMs: 300 })).rejects.toThrow(/unreachable/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe('k3s module', () => {
  const args = (root: string) => ({
    role: 'agent',
    version: 'v1.31.5+k3s1',
    serverUrl: 'https://192.168.22.10:6443',
    token: tokenFor(caPem),
    nodeName: 'titan-13',
    nodeIp: '192.168.22.13',
    labels: { 'metis.io/class': 'rpi4' },
    taints: ['dedicated=storage:NoSchedule'],
    kubeletArgs: ['max-pods=110'],
    binary: '/usr/local/bin/k3s',
    root,
  });

  it('writes config, a 0600 token file and the unit; check → change, apply, check → ok; token never in diffs or logs', async () => {
    const { root, cleanup } = tempRoot();
    cleanups.push(cleanup);
    mkdirSync(join(root, 'usr/local/bin'), { recursive: true });
    copyFileSync(new URL('../../fixtures/k3s-standin/k3s', import.meta.url), join(root, 'usr/local/bin/k3s'));
    chmodSync(join(root, 'usr/local/bin/k3s'), 0o755);
    const { root: _r, ...a } = args(root);
    // As in a run: the token comes from the manifest, whose secret values the run's redactor holds.
    const m = exampleManifest();
    const ctx = makeContext({ root, manifest: { ...m, k3s: { ...m.k3s!, token: a.token } } });
    const first = await convergeLoop(k3sModule, a, ctx);
    const cfg = readFileSync(join(root, 'etc/rancher/k3s/config.yaml'), 'utf8');
    expect(cfg).toContain('server: https://192.168.22.10:6443');
    expect(cfg).toContain('token-file: /etc/rancher/k3s/token');
    expect(cfg).toContain('- metis.io/class=rpi4');
    expect(cfg).toContain('- dedicated=storage:NoSchedule');
    expect(statSync(join(root, 'etc/rancher/k3s/token')).mode & 0o777).toBe(0o600);
    expect(statSync(join(root, 'etc/rancher/k3s/config.yaml')).mode & 0o777).toBe(0o600);
    // The plan carries the token (the write action's content); everything shown must not.
    const tokenWrite = first.actions.find((x) => x.kind === 'write' && x.path === '/etc/rancher/k3s/token');
    expect(tokenWrite).toMatchObject({ secret: true, mode: 0o600 });
    expect(first.actions.map(describeAction)).toContain('write /etc/rancher/k3s/token mode 0600: [redacted]');
    expect(JSON.stringify({ diff: first.diff, reason: first.reason, actions: first.actions.map(describeAction) })).not.toContain('s3cr3t-join-password');
    // Log the whole plan, token included, through the run's logger: what reaches the log is redacted.
    ctx.log.info({ kind: 'task', plan: first }, 'planned');
    ctx.log.info({ kind: 'task', token: a.token }, `planned ${a.token}`);
    const logged = ctx.logs();
    expect(logged).toContain('/etc/rancher/k3s/token');
    expect(logged).toContain('[redacted]');
    expect(logged).not.toContain('s3cr3t-join-password');
  });

  it('fails clearly when the class image carries no k3s binary', async () => {
    const { root, cleanup } = tempRoot();
    cleanups.push(cleanup);
    const ctx = makeContext({ root });
    const { root: _r, ...a } = args(root);
    const parsed = k3sModule.args.parse(a);
    // A plan that cannot succeed is a `fail` (exit 4 with --check), never a change.
    expect(await k3sModule.check(parsed, ctx)).toEqual({ status: 'fail', reason: expect.stringMatching(/missing.*never downloads/) });
  });

  it('args are the manifest schema’s own fields: the token keeps its secret mark (one source of truth)', () => {
    const { root: _r, ...a } = args('/');
    expect(findSecrets(k3sModule.args, k3sModule.args.parse(a))).toEqual([{ path: 'token', value: a.token }]);
    expect(findSecrets(k3sJoinModule.args, k3sJoinModule.args.parse({ role: 'agent', serverUrl: a.serverUrl, token: a.token }))).toEqual([{ path: 'token', value: a.token }]);
    // The manifest's rules hold here too: a short token or a plain-http server is refused.
    expect(k3sModule.args.safeParse({ ...a, token: 'short' }).success).toBe(false);
    expect(k3sModule.args.safeParse({ ...a, serverUrl: 'http://192.168.22.10:6443' }).success).toBe(false);
  });

  it('a joining server renders server: + token-file and never cluster-init; only a first server gets cluster-init', () => {
    const { root: _r, ...a } = args('/');
    const joining = renderConfig(k3sModule.args.parse({ ...a, role: 'server' }));
    expect(joining).toContain('server: https://192.168.22.10:6443');
    expect(joining).toContain('token-file: /etc/rancher/k3s/token');
    expect(joining).not.toContain('cluster-init');
    const { serverUrl: _s, ...first } = a;
    const firstServer = renderConfig(k3sModule.args.parse({ ...first, role: 'server', clusterInit: true }));
    expect(firstServer).toContain('cluster-init: true');
    expect(firstServer).not.toMatch(/^server:/m);
  });

  it('refuses clusterInit with serverUrl (a fail, never a change): a joining server must not start a new cluster', async () => {
    const { root, cleanup } = tempRoot();
    cleanups.push(cleanup);
    mkdirSync(join(root, 'usr/local/bin'), { recursive: true });
    copyFileSync(new URL('../../fixtures/k3s-standin/k3s', import.meta.url), join(root, 'usr/local/bin/k3s'));
    const { root: _r, ...a } = args(root);
    const parsed = k3sModule.args.parse({ ...a, role: 'server', clusterInit: true });
    expect(await k3sModule.check(parsed, makeContext({ root }))).toEqual({ status: 'fail', reason: expect.stringMatching(/must not run cluster-init/) });
    expect(renderConfig(parsed)).not.toContain('cluster-init');
  });

  it('parses k3s --version', () => {
    expect(parseVersion('k3s version v1.31.5+k3s1 (56ec5dd4)\ngo version go1.22.10')).toBe('v1.31.5+k3s1');
    expect(parseVersion('garbage')).toBeNull();
  });
});
