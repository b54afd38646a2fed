import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBundle } from '../bootstrap/bundle.js';
import { metis } from '../burner/commands/run.js';
import { tempDir } from '../burner/fixtures.js';
import { raw, rawNoHost, startUi, type UiProcess } from './harness.js';

const REPO = new URL('../../', import.meta.url).pathname;

/** The running `metis ui` (the built bundle) over raw HTTP: no browser and no root needed. */
describe('metis ui: who may talk to it', () => {
  const t = tempDir('metis-ui-sec-');
  let ui: UiProcess;
  beforeAll(async () => {
    ensureBundle();
    ui = await startUi(join(REPO, 'dist/metis.js'), ['--inventory', join(REPO, 'inventory')], { PATH: process.env['PATH'], HOME: t.dir });
  });
  afterAll(async () => {
    expect(await ui?.stop()).toBe(0);
    t.cleanup();
  });

  it('token, Host and Origin checks; no CORS; bad input refused; listens on 127.0.0.1 only', async () => {
    const host = `127.0.0.1:${ui.port}`;
    const T = `/${ui.token}`;
    const ok = await raw(ui.port, 'GET', `${T}/`, { Host: host });
    expect(ok.status).toBe(200);
    expect(ok.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
    expect((await raw(ui.port, 'GET', `${T}/api/nodes`, { Host: `localhost:${ui.port}` })).status).toBe(200);
    // No token, a wrong one, a token of the wrong length: 403.
    for (const p of ['/', '/api/nodes', `/${ui.token.slice(1)}x/`, `/${ui.token}x/`, '/events', `/x${T}/`]) {
      const r = await raw(ui.port, 'GET', p, { Host: host });
      expect(r.status, p).toBe(403);
      expect(r.body).not.toContain(ui.token);
    }
    // DNS rebinding: a foreign name resolving to 127.0.0.1 carries its own Host.
    for (const h of [`evil.example:${ui.port}`, 'evil.example', `127.0.0.1.evil.example:${ui.port}`, `localhost.:${ui.port}`]) {
      expect((await raw(ui.port, 'GET', `${T}/`, { Host: h })).status, h).toBe(403);
    }
    expect(await rawNoHost(ui.port, `${T}/`)).toMatch(/^HTTP\/1\.[01] 403/);
    // A cross-site subresource fetch is refused too.
    expect((await raw(ui.port, 'GET', `${T}/api/nodes`, { Host: host, 'Sec-Fetch-Site': 'cross-site' })).status).toBe(403);
    // POST: foreign Origin, no Origin, a form's content type: refused, nothing written.
    const target = join(t.dir, 'forged.img');
    const body = JSON.stringify({ node: 'titan-13', to: target });
    const forged: Record<string, string>[] = [
      { Host: host, Origin: 'http://evil.example', 'Content-Type': 'application/json' },
      { Host: host, Origin: `http://localhost:${ui.port + 1}`, 'Content-Type': 'application/json' },
      { Host: host, 'Content-Type': 'application/json' },
      { Host: host, Origin: `http://${host}`, 'Content-Type': 'text/plain' },
      { Host: host, Origin: `http://${host}`, 'Content-Type': 'application/json', 'Sec-Fetch-Site': 'cross-site' },
    ];
    for (const h of forged) {
      const r = await raw(ui.port, 'POST', `${T}/api/burn`, h, body);
      expect([403, 415], JSON.stringify(h)).toContain(r.status);
      expect(r.headers['access-control-allow-origin']).toBeUndefined();
    }
    const pre = await raw(ui.port, 'OPTIONS', `${T}/api/burn`, { Host: host, Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' });
    expect(pre.status).toBe(405);
    expect(Object.keys(pre.headers).filter((k) => k.startsWith('access-control-'))).toEqual([]);
    // Bad input from the page itself: named, nothing started.
    const same = { Host: host, Origin: `http://${host}`, 'Content-Type': 'application/json' };
    expect(JSON.parse((await raw(ui.port, 'POST', `${T}/api/burn`, same, JSON.stringify({ node: '--yes', to: target }))).body)).toEqual({ error: 'invalid node' });
    expect((await raw(ui.port, 'POST', `${T}/api/burn`, same, JSON.stringify({ node: 'titan-13', to: '--yes' }))).status).toBe(400);
    expect((await raw(ui.port, 'POST', `${T}/api/burn`, same, JSON.stringify({ node: 'titan-13', device: '/dev/x', to: target }))).status).toBe(400);
    expect((await raw(ui.port, 'POST', `${T}/api/answer`, same, JSON.stringify({ job: '0123456789ab', answer: 'yes' }))).status).toBe(409);
    expect(existsSync(target)).toBe(false);
    // Every listening socket of the process is on 127.0.0.1.
    const ss = execFileSync('ss', ['-ltnpH'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(`pid=${ui.child.pid},`));
    expect(ss.length).toBe(1);
    expect(ss[0]!.split(/\s+/)[3]).toBe(`127.0.0.1:${ui.port}`);
  });

  it('prints its address (and the ssh -L recipe), and takes only its own flags', async () => {
    expect(ui.stdout()).toBe(`metis ui: ${ui.url}\n`);
    expect(ui.stderr()).toContain(`ssh -L ${ui.port}:127.0.0.1:${ui.port}`);
    for (const argv of [['ui', '--port', 'abc'], ['ui', '--port', '70000'], ['ui', 'extra'], ['ui', '--colour']]) {
      const r = await metis(argv);
      expect(r.code, argv.join(' ')).toBe(2);
    }
    const busy = await metis(['ui', '--no-open', '--port', String(ui.port)]);
    expect(busy.code).toBe(1);
    expect(busy.err).toMatch(/EADDRINUSE/);
  });
});
