import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Exec } from '../../../src/bootstrap/exec.js';
import { k3sJoinModule } from '../../../src/bootstrap/modules/k3s-join.js';
import { applyPlanned, convergeLoop, makeContext, tempRoot } from '../../helpers/context.js';
import { useSysroot } from '../sysroot.js';

let root: string;
useSysroot('metis-mod-k3s-join-', (r) => (root = r));

/** A real HTTPS server on loopback serving /cacerts (openssl-made cert), as a k3s server does. */
let server: Server;
let url: string;
let caPem: Buffer;
const certDir = tempRoot('metis-k3s-join-tls-');
beforeAll(async () => {
  const key = join(certDir.root, 'key.pem');
  const cert = join(certDir.root, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=k3s-join-test'], { stdio: 'ignore' });
  caPem = readFileSync(cert);
  server = createServer({ key: readFileSync(key), cert: caPem }, (req, res) => (req.url === '/cacerts' ? res.end(caPem) : res.writeHead(404).end()));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  certDir.cleanup();
});

const tokenFor = (ca: Buffer) => `K10${createHash('sha256').update(ca).digest('hex')}::server:join-secret-0001`;
const UNIT = '[Unit]\nDescription=k3s agent\n[Service]\nExecStart=/usr/local/bin/k3s agent\n[Install]\nWantedBy=multi-user.target\n';
const wants = () => join(root, 'etc/systemd/system/multi-user.target.wants/k3s-agent.service');

/** Unit state as a live `systemctl show` would answer it: recorded, never this machine's manager. */
function showing(fileState: string, activeState: string): Exec {
  return Object.assign(async () => ({ exitCode: 0, stdout: `Id=k3s-agent.service\nActiveState=${activeState}\nUnitFileState=${fileState}\n`, stderr: '' }), { count: () => 0 });
}

describe('k3s_join module', () => {
  it('under --root: enables the agent unit (real systemctl --root); check → change, apply, check → ok', async () => {
    mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
    writeFileSync(join(root, 'etc/systemd/system/k3s-agent.service'), UNIT);
    const ctx = makeContext({ root });
    const first = await convergeLoop(k3sJoinModule, { role: 'agent', serverUrl: url, token: tokenFor(caPem) }, ctx);
    expect(first.reason).toBe('enable k3s-agent.service (start skipped: not live)');
    expect(first.actions).toEqual([{ kind: 'systemctl', verb: 'enable', unit: 'k3s-agent.service' }]);
    expect(lstatSync(wants()).isSymbolicLink()).toBe(true);
    expect(readlinkSync(wants())).toBe('/etc/systemd/system/k3s-agent.service');
    expect(ctx.logs()).not.toContain('join-secret-0001');
  });

  it('live: enabled and active is ok; otherwise enable (no reload of its own), the one reload, then start', async () => {
    const a = k3sJoinModule.args.parse({ role: 'agent', serverUrl: url, token: tokenFor(caPem) });
    const ok = makeContext({ root: '/', live: true, checkMode: true, factSources: { exec: showing('enabled', 'active') } });
    expect(await k3sJoinModule.check(a, ok)).toEqual({ status: 'ok' });
    const off = makeContext({ root: '/', live: true, checkMode: true, factSources: { exec: showing('disabled', 'inactive') } });
    const r = await k3sJoinModule.check(a, off);
    expect(r).toMatchObject({
      status: 'change',
      diff: [{ target: 'k3s-agent.service', before: 'disabled, inactive', after: 'enabled, active' }],
      actions: [{ kind: 'systemctl', verb: 'enable', unit: 'k3s-agent.service' }, { kind: 'daemon-reload' }, { kind: 'systemctl', verb: 'start', unit: 'k3s-agent.service' }],
    });
    // Enabled but down (not coming up): no enable, only the start.
    const down = await k3sJoinModule.check(a, makeContext({ root: '/', live: true, checkMode: true, factSources: { exec: showing('enabled', 'inactive\nJob=') } }));
    expect(down).toMatchObject({ status: 'change', actions: [{ kind: 'daemon-reload' }, { kind: 'systemctl', verb: 'start', unit: 'k3s-agent.service' }] });
  });

  it.each([
    ['enabled', 'activating', 'ok', 'k3s-agent.service is starting (systemd is activating it)'],
    ['enabled', 'inactive\nJob=9', 'ok', 'k3s-agent.service is starting (systemd has its start job queued)'],
    ['enabled', 'inactive\nJob=', 'change', undefined],
    ['disabled', 'inactive\nJob=9', 'change', undefined],
  ])('live at boot: %s/%j → %s (systemd starting it is not drift)', async (fileState, activeState, status, reason) => {
    const a = k3sJoinModule.args.parse({ role: 'agent', serverUrl: url, token: tokenFor(caPem) });
    const r = await k3sJoinModule.check(a, makeContext({ root: '/', live: true, checkMode: true, factSources: { exec: showing(fileState, activeState) } }));
    expect(r.status).toBe(status);
    if (reason) expect(r).toEqual({ status: 'ok', reason });
  });

  // Check mode never carries out actions (ctx.execute refuses), so these prove the order on this machine safely.
  it('live: a token from another cluster fails the preflight before anything starts', async () => {
    const a = k3sJoinModule.args.parse({ role: 'agent', serverUrl: url, token: tokenFor(Buffer.from('another CA')), preflightTimeoutSec: 5 });
    const ctx = makeContext({ root: '/', live: true, checkMode: true, factSources: { exec: showing('disabled', 'inactive') } });
    const res = await applyPlanned(k3sJoinModule, a, ctx, await k3sJoinModule.check(a, ctx));
    expect(res.failed).toMatch(/token does not belong to this cluster/);
    expect(ctx.exec.count()).toBe(0);
    expect(JSON.stringify(res)).not.toContain('join-secret-0001');
  });

  it('live: the right token passes the preflight, and only then are the actions carried out', async () => {
    const a = k3sJoinModule.args.parse({ role: 'agent', serverUrl: url, token: tokenFor(caPem), preflightTimeoutSec: 5 });
    const ctx = makeContext({ root: '/', live: true, checkMode: true, factSources: { exec: showing('disabled', 'inactive') } });
    await expect(applyPlanned(k3sJoinModule, a, ctx, await k3sJoinModule.check(a, ctx))).rejects.toThrow(/actions carried out in check mode/);
    expect(ctx.exec.count()).toBe(0);
  });

  it.each([{ role: 'agent' }, { role: 'agent', token: '' }, { role: 'worker', token: 'x'.repeat(20) }, { role: 'agent', token: 'x'.repeat(20), serverUrl: 'http://a:6443' }])('refuses args %j', (a) => {
    expect(k3sJoinModule.args.safeParse(a).success).toBe(false);
  });
});
