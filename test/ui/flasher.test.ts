import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDemoImage } from '../../src/demo/image.js';
import { parseManifest } from '../../src/manifest/load.js';
import { ensureBundle } from '../bootstrap/bundle.js';
import { fsckBoot, isRoot, mtype, tempDir } from '../burner/fixtures.js';
import { startSshHost, type SshHost } from '../helpers/ssh-host.js';
import { CHROMIUM, launchChromium, raw, recordingPage, startUi, type UiProcess } from './harness.js';

const REPO = new URL('../../', import.meta.url).pathname;
const PW = 'muh-flasher-secret-pw-7c2e';
const TOKEN = `K10${'a4'.repeat(32)}::server:${PW}`;

const can = isRoot && existsSync(CHROMIUM);
if (!isRoot) console.warn('skip: metis ui flashing-host test needs root (network namespace, sshd, loop devices)');
else if (!existsSync(CHROMIUM)) console.warn(`skip: metis ui flashing-host test needs Debian's chromium at ${CHROMIUM}`);

describe.skipIf(!can)('metis ui: a card on a flashing host (real sshd in a namespace, headless chromium)', () => {
  const t = tempDir('metis-ui-flasher-');
  const inv = join(t.dir, 'inventory');
  let host: SshHost | undefined;
  let ui: UiProcess | undefined;
  let chromium: Awaited<ReturnType<typeof launchChromium>> | null = null;
  let page: Page;
  let loop = '';
  /** A second card, inserted and pulled while the page watches the flashing host. */
  let loop2 = '';
  const backing2 = join(t.dir, 'card2.bin');
  /** sha256 of the card's first MiB as inserted (random bytes). */
  let before = '';
  const head = () => createHash('sha256').update(readFileSync(backing).subarray(0, 1 << 20)).digest('hex');
  const backing = join(t.dir, 'card.bin');
  /** Every body and event the page received. */
  const received: string[] = [];

  beforeAll(async () => {
    ensureBundle();
    host = await startSshHost({ prefix: 'muh' });
    // titan-21 (rpi5-worker) from the example lab, its class pointed at the small demo image.
    cpSync(join(REPO, 'inventory'), inv, { recursive: true });
    const small = join(t.dir, 'demo-class.img');
    await makeDemoImage(small, t.dir);
    const cls = join(inv, 'classes/rpi5-worker.yaml');
    writeFileSync(cls, readFileSync(cls, 'utf8').replace(/ref: .*/, `ref: ${small}`));
    appendFileSync(join(inv, 'cluster.yaml'), `flashers:\n  flash-lab:\n    ssh: root@${host.alias}\n    cache: ${join(t.dir, 'host-cache')}\n`);
    // The card: a loop device the flashing host sees (it shares /dev; only its network is its own).
    execFileSync('dd', ['if=/dev/urandom', `of=${backing}`, 'bs=1M', 'count=2', 'status=none']);
    execFileSync('truncate', ['-s', '128M', backing]);
    before = head();
    loop = execFileSync('losetup', ['-f', '--show', backing], { encoding: 'utf8' }).trim();
    ui = await startUi(join(REPO, 'dist/metis.js'), ['--inventory', inv, '--cache', join(t.dir, 'cache')], {
      PATH: process.env['PATH'],
      HOME: t.dir,
      METIS_K3S_TOKEN: TOKEN,
      METIS_SSH_CONFIG: host.sshConfig,
      SOPS_AGE_KEY_FILE: join(REPO, 'inventory/demo-age-key.txt'),
    });
    chromium = await launchChromium();
    page = await recordingPage(chromium.browser, received);
  }, 300_000);

  afterAll(async () => {
    await chromium?.close();
    const t0 = Date.now();
    const code = await ui?.stop();
    if (code !== 0) console.warn(`metis ui stop: ${code} after ${Date.now() - t0} ms; signal ${ui?.child.signalCode}; stderr: ${ui?.stderr()}`);
    for (const [dev, file] of [[loop, backing], [loop2, backing2]] as const) {
      try {
        // Only while it is still ours (the same backing file): other tests attach loop devices too.
        if (dev && execFileSync('losetup', ['-nO', 'BACK-FILE', dev], { encoding: 'utf8' }).trim() === file) execFileSync('losetup', ['-d', dev]);
      } catch {
        /* already detached */
      }
    }
    await host?.stop();
    t.cleanup();
    expect(code).toBe(0);
  }, 120_000);

  async function visible(sel: string, timeout = 30_000): Promise<void> {
    try {
      await page.waitForSelector(sel, { visible: true, timeout });
    } catch (e) {
      const seen = await page.evaluate(() => ['#flasher-note', '#devices-error', '#phase', '#burn-error', '#conn'].map((s) => `${s}: ${document.querySelector(s)?.textContent ?? ''}`).join(' | '));
      throw new Error(`${sel} did not show in ${timeout} ms; the page: ${seen}`, { cause: e });
    }
  }
  const text = (sel: string) => page.$eval(sel, (e) => e.textContent ?? '');
  const post = (path: string, body: unknown) =>
    raw(ui!.port, 'POST', `/${ui!.token}${path}`, { Host: `127.0.0.1:${ui!.port}`, Origin: `http://127.0.0.1:${ui!.port}`, 'Content-Type': 'application/json' }, JSON.stringify(body));

  it('lists the inventory flasher in the Card step, shows its loop device, burns to it; the card passes fsck.fat and mtype', { timeout: 600_000 }, async () => {
    await page.goto(ui!.url);
    await visible('#node-titan-21');
    await page.click('#node-titan-21');
    await page.click('#to-card');
    await visible('#step-card');
    // The flasher from cluster.yaml, beside this computer, with its ssh target.
    const radio = 'input[name=where][value="flasher:flash-lab"]';
    await visible(radio);
    expect(await page.$eval(radio, (e) => e.parentElement?.textContent ?? '')).toContain(`flash-lab (root@${host!.alias})`);
    await page.click(radio);
    // Its disks come from `metis devices --host=flash-lab --json` over ssh: the loop device is among them.
    const devId = `#dev-${loop.replace(/[^A-Za-z0-9]/g, '-')}`;
    await visible(devId, 120_000);
    expect(await text(`${devId} + label`)).toContain('128.0 MiB');
    // Hot-plug on the flashing host: a card inserted there appears, and disappears when pulled, without a reload.
    execFileSync('truncate', ['-s', '64M', backing2]);
    loop2 = execFileSync('losetup', ['-f', '--show', backing2], { encoding: 'utf8' }).trim();
    const dev2 = `#dev-${loop2.replace(/[^A-Za-z0-9]/g, '-')}`;
    await visible(dev2, 30_000);
    expect(await text('#hotplug')).toContain(`Card inserted: ${loop2}`);
    execFileSync('losetup', ['-d', loop2]);
    await page.waitForSelector(dev2, { hidden: true, timeout: 30_000 });
    expect(await text('#hotplug')).toContain(`Removed: ${loop2}.`);
    await page.click(devId);
    await page.click('#to-write');
    await visible('#step-write');
    expect(await text('#summary')).toMatch(new RegExp(`Node\\s*titan-21\\s*Card\\s*${loop} on flash-lab\\s*Model\\s*unknown model\\s*Size\\s*128\\.0 MiB`));
    // The CLI's question, in a dialog naming host, device, model and size; nothing written before "yes".
    await page.click('#write');
    await visible('#confirm', 120_000);
    expect(await text('#confirm-summary')).toMatch(new RegExp(`Card\\s*${loop} on flash-lab\\s*Model\\s*unknown model\\s*Size\\s*128\\.0 MiB`));
    expect(await text('#confirm-question')).toContain(loop);
    expect(head(), 'the card was written before the answer').toBe(before);
    await page.click('#confirm-yes');
    await visible('#done-box', 300_000);
    expect(await text('#done-text')).toMatch(/^Written and verified: /);
    // The card, judged from its backing file (the bytes the loop device wrote through to).
    expect(execFileSync('losetup', ['-nO', 'BACK-FILE', loop], { encoding: 'utf8' }).trim()).toBe(backing);
    const m = parseManifest(mtype(backing, 'metis/node.yaml').toString('utf8')).manifest;
    expect(m.node.hostname).toBe('titan-21');
    expect(m.k3s?.token).toBe(TOKEN);
    const fsck = fsckBoot(backing, t.dir);
    expect(fsck.status, fsck.report).toBe(0);
    // The token never reached the page.
    expect(received.join('\n')).not.toContain(PW);
  });

  it('refuses a host that is not an inventory flasher name, before anything runs (no argv from the page)', async () => {
    for (const h of ['not-a-flasher', `root@${host!.alias}`, '-oProxyCommand=touch /tmp/x', 'flash-lab ', 'FLASH-LAB']) {
      const w = await post('/api/watch', { host: h });
      expect(w.status, h).toBe(400);
      const b = await post('/api/burn', { node: 'titan-21', host: h, device: loop });
      expect(b.status, h).toBe(400);
      expect(b.body).not.toContain(h.trim());
    }
    expect((await post('/api/watch', { host: 'flash-lab' })).status).toBe(200);
  });

  it('cancels the rejoin wait the page started after the burn (titan-21 is not on this network); it ends aborted', { timeout: 60_000 }, async () => {
    const events = () => received.flatMap((r) => r.split('\n')).flatMap((l) => { try { return [JSON.parse(l) as Record<string, unknown>]; } catch { return []; } });
    const started = events().find((e) => e['type'] === 'job' && e['kind'] === 'wait' && e['start']);
    expect(started, 'the page starts metis wait after the burn').toBeTruthy();
    const job = started!['job'] as string;
    const c = await post('/api/cancel', { job });
    // Already over (it may have failed on its own) is a 409; a running one is cancelled.
    expect([200, 409]).toContain(c.status);
    for (let i = 0; i < 200 && !events().some((e) => e['job'] === job && 'exit' in e); i++) await new Promise((r) => setTimeout(r, 250));
    expect(events().find((e) => e['job'] === job && 'exit' in e)?.['exit']).not.toBe(0);
  });
});
