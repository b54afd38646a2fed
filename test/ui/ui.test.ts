import { stringify as stringifyYaml } from 'yaml';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, cpSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDemoImage } from '../../src/demo/image.js';
import { parseManifest } from '../../src/manifest/load.js';
import type { Io } from '../../src/inventory/io.js';
import { runMetis } from '../../src/burner/commands/main.js';
import { startUiServer } from '../../src/ui/server.js';
import { ensureBundle } from '../bootstrap/bundle.js';
import { fsckBoot, isRoot, makeImage, mtype, tempDir } from '../burner/fixtures.js';
import { metis } from '../burner/commands/run.js';
import { attachLoop, CHROMIUM, detachLoop, launchChromium, CAN_THROTTLE, raw, rawNoHost, recordingPage, startUi, throttle, type UiProcess } from './harness.js';

const REPO = new URL('../../', import.meta.url).pathname;
const PW = 'mui-ui-secret-pw-5b1d';
const TOKEN = `K10${'e7'.repeat(32)}::server:${PW}`;
/** Screenshots go to docs/ui/ only when asked (UPDATE_SCREENSHOTS=1): a test run leaves the tree clean. */
const SHOTS = process.env['UPDATE_SCREENSHOTS'] ? join(REPO, 'docs/ui') : '';

const can = isRoot && existsSync(CHROMIUM);
if (!isRoot) console.warn('skip: metis ui browser test needs root (loop devices as cards)');
else if (!existsSync(CHROMIUM)) console.warn(`skip: metis ui browser test needs Debian's chromium at ${CHROMIUM}`);

describe.skipIf(!can)('metis ui in headless chromium', () => {
  const t = tempDir('metis-ui-');
  const inv = join(t.dir, 'inventory');
  let img = '';
  const small = join(t.dir, 'demo-class.img');
  const shots = SHOTS || join(t.dir, 'shots');
  let ui: UiProcess;
  let chromium: Awaited<ReturnType<typeof launchChromium>> | null = null;
  let browser: Browser;
  let page: Page;
  const loops: string[] = [];
  /** Every body and every event the page received. */
  const received: string[] = [];

  beforeAll(async () => {
    ensureBundle();
    const bundle = join(REPO, 'dist/metis.js');
    // A class image with 96 MiB of data in its root: more than the burner lets wait in the page
    // cache (2 × 32 MiB), so on a throttled card the write phase shows the card's own pace.
    img = makeImage(t.dir, { sizeMiB: 180, dataMiB: 96 });
    const sha = createHash('sha256').update(readFileSync(img)).digest('hex');
    // The example lab, its rpi4-longhorn class pointed at the demo image; titan-13's identity sealed with the real age.
    cpSync(join(REPO, 'inventory'), inv, { recursive: true });
    const cls = join(inv, 'classes/rpi4-longhorn.yaml');
    writeFileSync(cls, readFileSync(cls, 'utf8').replace(/ref: .*/, `ref: ${img}`).replace(/sha256: .*/, `sha256: ${sha}`));
    // rpi5-worker (titan-21): the small demo class image, for the image-file target.
    await makeDemoImage(small, t.dir);
    const cls5 = join(inv, 'classes/rpi5-worker.yaml');
    writeFileSync(cls5, readFileSync(cls5, 'utf8').replace(/ref: .*/, `ref: ${small}`));
    // A flashing host nobody answers for (port 1): the Card step lists it from cluster.yaml.
    appendFileSync(join(inv, 'cluster.yaml'), 'flashers:\n  dead-port:\n    ssh: 127.0.0.1:1\n');
    mkdirSync(join(inv, 'identity'), { recursive: true });
    const key = join(t.dir, 'age.key');
    execFileSync('age-keygen', ['-o', key], { stdio: 'ignore' });
    const recipient = execFileSync('age-keygen', ['-y', key], { encoding: 'utf8' }).trim();
    // A real escrow (the format metis identity capture writes), sealed by the real age to this test's key.
    const escrow = { node: 'titan-13', capturedAt: new Date().toISOString(), capturedFrom: 'root@192.168.22.13:22', machineId: '0f5c2a1e9b7d4c3a8e6f1b2d3c4a5e13', hostKeys: {} };
    execFileSync('age', ['-r', recipient, '-o', join(inv, 'identity/titan-13.age')], { input: stringifyYaml(escrow) });
    // The example's own sealed files (titan-21, atlas-01) are sealed to the throwaway demo key: this key opens both.
    writeFileSync(key, `${readFileSync(key, 'utf8')}\n${readFileSync(join(REPO, 'inventory/demo-age-key.txt'), 'utf8')}`);
    mkdirSync(shots, { recursive: true });
    ui = await startUi(bundle, ['--inventory', inv, '--cache', join(t.dir, 'cache')], { PATH: process.env['PATH'], HOME: t.dir, METIS_K3S_TOKEN: TOKEN, SOPS_AGE_KEY_FILE: key });
    chromium = await launchChromium();
    browser = chromium.browser;
    page = await recordingPage(browser, received);
  }, 180_000);

  afterAll(async () => {
    for (const l of loops) detachLoop(l);
    await chromium?.close();
    const code = await ui?.stop();
    expect(code).toBe(0);
    t.cleanup();
  });

  const shot = (name: string) => page.screenshot({ path: join(shots, name) as `${string}.png` });
  /** Waits for an element to show; on timeout says what the page showed instead. */
  async function visible(sel: string, timeout = 30_000): Promise<void> {
    try {
      await page.waitForSelector(sel, { visible: true, timeout });
    } catch (e) {
      const seen = await page.evaluate(() => ['#phase', '#rate', '#burn-error', '#devices-error', '#wait-error', '#conn'].map((s) => `${s}: ${document.querySelector(s)?.textContent ?? ''}`).join(' | '));
      throw new Error(`${sel} did not show in ${timeout} ms; the page: ${seen}`, { cause: e });
    }
  }
  const text = (sel: string) => page.$eval(sel, (e) => e.textContent ?? '');
  /** Keyboard only: Tab (bounded) until the focused element matches. */
  async function tabTo(sel: string, back = false): Promise<void> {
    for (let i = 0; i < 60; i++) {
      if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, sel)) return;
      if (back) await page.keyboard.down('Shift');
      await page.keyboard.press('Tab');
      if (back) await page.keyboard.up('Shift');
    }
    throw new Error(`Tab never reached ${sel}; focus is on ${await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 120))}`);
  }
  const checked = (sel: string) => page.$eval(sel, (e) => (e as HTMLInputElement).checked);

  it('walks node → card (hot-plugged) → confirm → write → verify → insert + rejoin checklist by keyboard alone', async () => {
    await page.goto(ui.url);
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    await visible('#node-titan-13');
    await page.waitForFunction(() => document.querySelectorAll('#node-list .choice').length === 8);
    // Step 1: the node, its class, image and identity states.
    const card13 = await text('#node-titan-13 + label');
    expect(card13).toMatch(/titan-13.*rpi4-longhorn.*agent.*192\.168\.22\.13\/24/);
    expect(card13).toContain('image: local file');
    expect(card13).toContain('identity escrowed');
    expect(await text('#node-titan-15 + label')).toContain('not escrowed: the node gets a new identity');
    expect(await text('#node-atlas-01 + label')).toContain('image not cached');
    // The filter narrows the list; cleared again, all eight are back.
    await tabTo('#filter');
    await page.keyboard.type('atlas');
    expect(await page.$$eval('#node-list .choice', (es) => es.length)).toBe(2);
    for (let i = 0; i < 5; i++) await page.keyboard.press('Backspace');
    expect(await page.$$eval('#node-list .choice', (es) => es.length)).toBe(8);
    // Into the radio group, then arrow keys to titan-13 (arrows select as they move).
    await page.keyboard.press('Tab');
    await page.keyboard.press('Space');
    for (let i = 0; i < 10 && !(await checked('#node-titan-13')); i++) await page.keyboard.press('ArrowDown');
    expect(await checked('#node-titan-13')).toBe(true);
    await page.waitForFunction(() => document.querySelector('#manifest')?.textContent?.includes('hostname: titan-13'));
    expect(await text('#manifest')).toMatch(/token: "?\[redacted\]"?/);
    await shot('1-node.png');
    await tabTo('#manifest-box summary');
    await page.keyboard.press('Enter');
    expect(await page.$eval('#manifest-box', (e) => (e as HTMLDetailsElement).open)).toBe(true);
    await tabTo('#to-card');
    await page.keyboard.press('Enter');
    await visible('#step-card');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('h-card');

    // Step 2: insert the card while the page is open; it appears without a reload.
    const t0 = Date.now();
    const loop = attachLoop(join(t.dir, 'card.bin'), 192);
    loops.push(loop);
    const devId = `#dev-${loop.replace(/[^A-Za-z0-9]/g, '-')}`;
    await visible(devId, 10_000);
    console.log(`hot-plug: ${loop} shown ${Date.now() - t0} ms after losetup`);
    expect(await text('#hotplug')).toContain(`Card inserted: ${loop}`);
    expect(await text(`${devId} + label`)).toContain('192.0 MiB');
    // The disk holding / is never offered.
    const offered = await page.$$eval('input[name=device]', (es) => es.map((e) => (e as HTMLInputElement).value));
    const system = (JSON.parse(execFileSync('lsblk', ['-J', '-o', 'PATH,MOUNTPOINTS'], { encoding: 'utf8' })) as { blockdevices: { path: string; mountpoints: (string | null)[]; children?: { mountpoints: (string | null)[] }[] }[] }).blockdevices
      .filter((d) => [...d.mountpoints, ...(d.children ?? []).flatMap((c) => c.mountpoints)].includes('/'))
      .map((d) => d.path);
    expect(system.length).toBeGreaterThan(0);
    for (const s of system) expect(offered).not.toContain(s);
    expect(await text('#system-note')).toMatch(/system disks? (is|are) not shown/);
    await tabTo('input[name=device]');
    for (let i = 0; i < 30 && !(await page.evaluate((id) => document.activeElement?.id === id.slice(1), devId)); i++) await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Space');
    expect(await checked(devId)).toBe(true);
    await shot('2-card.png');
    await tabTo('#to-write');
    await page.keyboard.press('Enter');
    await visible('#step-write');
    expect(await text('#summary')).toMatch(new RegExp(`Node\\s*titan-13\\s*Card\\s*${loop} on this computer\\s*Model\\s*unknown model\\s*Size\\s*192\\.0 MiB`));

    // Step 3: the CLI's own question in a dialog, naming node, device, model and size; Cancel has the focus.
    await tabTo('#write');
    await page.keyboard.press('Enter');
    await visible('#confirm', 60_000);
    expect(await text('#confirm-question')).toMatch(new RegExp(`Burn node titan-13 to device ${loop} \\(unknown model, 192\\.0 MiB, loop\\)\\? Everything on it is lost\\.$`));
    expect(await text('#confirm-summary')).toMatch(new RegExp(`Node\\s*titan-13\\s*Card\\s*${loop}`));
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('confirm-no');
    expect(execFileSync('cmp', ['-n', '1048576', loop, '/dev/zero'], { encoding: 'utf8' })).toBe('');
    await shot('3-confirm.png');
    // Like a real card: the loop device's writes throttled to 32 MB/s (cgroup v1 blkio), so the
    // write phase is long enough to watch; removed in finally.
    const unthrottle = throttle(loop, 32_000_000);
    try {
      await tabTo('#confirm-yes');
      await page.keyboard.press('Enter');
      await visible('#progress-box');
      // Throttled, the page shows phase, percent, MB/s and time left while writing; without blkio the write may end first.
      await page.waitForFunction(
        (strict) => (/^Writing/.test(document.querySelector('#phase')?.textContent ?? '') && /[1-9]\d* % .* MB\/s · about \d+:\d\d left/.test(document.querySelector('#rate')?.textContent ?? '')) || (!strict && !document.querySelector('#done-box')?.hasAttribute('hidden')),
        { timeout: 30_000 },
        CAN_THROTTLE,
      );
      await shot('4-progress.png');
      await page.waitForFunction(() => /^Verifying/.test(document.querySelector('#phase')?.textContent ?? '') || !document.querySelector('#done-box')?.hasAttribute('hidden'), { timeout: 60_000 });
      await visible('#done-box', 60_000);
    } finally {
      unthrottle();
    }
    expect(await text('#done-text')).toMatch(/^Written and verified: [\d.]+ MB of data from a [\d.]+ MB image in [\d.]+ s; metis\/node\.yaml written and read back\.$/);
    expect(await text('#insert')).toBe('Insert the card into titan-13 and power it on.');
    // The rejoin checklist is `metis wait NODE --json`: its checks, or (before that command exists) its own error.
    const wait = await metis(['wait']);
    if (wait.err.includes('unknown command wait')) {
      await visible('#wait-error');
      expect(await text('#wait-error')).toMatch(/^metis: unknown command wait \(exit 2\)/);
    } else {
      await page.waitForFunction(() => document.querySelectorAll('#checklist li').length > 0 || !document.querySelector('#wait-error')?.hasAttribute('hidden'));
    }
    await shot('5-done.png');
    // The card, judged by fsck.fat and mtools.
    const m = parseManifest(mtype(loop, 'metis/node.yaml').toString('utf8')).manifest;
    expect(m.node.hostname).toBe('titan-13');
    expect(m.k3s?.token).toBe(TOKEN);
    const fsck = fsckBoot(loop, t.dir);
    expect(fsck.status, fsck.report).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { marker: number }).marker)).toBe(42);

    // Step 4: the fleet (metis status); its error until the command exists.
    await tabTo('#nav-fleet', true);
    await page.keyboard.press('Enter');
    // The table `metis status --json` gives, or its own first error line, as the CLI prints them.
    // The UI's own environment: the operator's age key opens titan-13's identity escrow (status hashes it).
    const status = await metis(['status', '--json', '--inventory', inv], { env: { HOME: t.dir, SOPS_AGE_KEY_FILE: join(t.dir, 'age.key') } });
    if (status.code === 0) await page.waitForSelector('#fleet tbody tr', { timeout: 30_000 });
    else {
      await visible('#fleet-error', 30_000);
      expect(await text('#fleet-error strong')).toBe(status.err.split('\n')[0]);
    }
    await shot('6-fleet.png');
  }, 240_000);

  it('a card pulled out disappears and a new one appears, without a reload', async () => {
    await page.click('#nav-card');
    const loop = attachLoop(join(t.dir, 'card2.bin'), 64);
    loops.push(loop);
    const devId = `#dev-${loop.replace(/[^A-Za-z0-9]/g, '-')}`;
    await visible(devId, 10_000);
    detachLoop(loop);
    await page.waitForSelector(devId, { hidden: true, timeout: 10_000 });
    expect(await text('#hotplug')).toContain(`Removed: ${loop}.`);
    // A flashing host is listed by the same command with --host; what it says (an error here: nothing
    // listens on port 1) is shown as the CLI says it.
    await page.click('input[name=where][value="flasher:dead-port"]');
    await visible('#devices-error', 30_000);
    expect(await text('#devices-error')).toMatch(/^metis devices: .*\(exit \d+\)/);
    await page.click('input[name=where][value=local]');
    await page.waitForSelector('#devices-error', { hidden: true, timeout: 10_000 });
    expect(await page.evaluate(() => (window as unknown as { marker: number }).marker)).toBe(42);
  });

  it('writes to an image file; a refused target shows the CLI message and its exit code', async () => {
    await page.click('#nav-node');
    await page.click('#filter', { clickCount: 3 });
    await page.keyboard.press('Backspace');
    await page.click('#node-titan-21');
    await page.click('#nav-card');
    await page.click('#dev-file');
    await page.type('#to-file', small); // the source image itself: refused (23), nothing written
    await page.click('#to-write');
    await page.click('#write');
    await visible('#burn-error');
    await page.waitForFunction(() => /exit 23/.test(document.querySelector('#burn-error')?.textContent ?? ''));
    expect(await text('#burn-error')).toMatch(/^metis burn: .*it is the source image.*\(exit 23\)$/);
    const out = join(t.dir, 'titan-21.img');
    await page.click('#nav-card');
    await page.$eval('#to-file', (e) => ((e as HTMLInputElement).value = ''));
    await page.type('#to-file', out);
    await page.click('#to-write');
    await page.click('#write');
    await visible('#confirm', 60_000);
    expect(await text('#confirm-question')).toMatch(/Burn node titan-21 to image file .*titan-21\.img \(new\)\?/);
    // Escape is "no": the burn exits 5 and writes nothing.
    await page.keyboard.press('Escape');
    await visible('#burn-error');
    expect(await text('#burn-error')).toMatch(/^metis burn: not burning titan-21: not confirmed \(exit 5\)$/);
    expect(existsSync(out)).toBe(false);
    await page.click('#write');
    await visible('#confirm', 60_000);
    await page.click('#confirm-yes');
    await visible('#done-box', 60_000);
    expect(await text('#insert')).toMatch(/image file for titan-21 is ready/);
    expect(statSync(out).size).toBe(statSync(small).size);
    expect(parseManifest(mtype(out, 'metis/node.yaml').toString('utf8')).manifest.node.hostname).toBe('titan-21');
    const fsck = fsckBoot(out, t.dir);
    expect(fsck.status, fsck.report).toBe(0);
  }, 180_000);

  it('is readable at 200 % zoom (half the CSS width): no sideways scrolling, every step', async () => {
    await page.setViewport({ width: 500, height: 900 });
    for (const step of ['node', 'card', 'write', 'fleet']) {
      await page.click(`#nav-${step}`);
      await visible(`#step-${step}`);
      const { sw, cw } = await page.evaluate(() => ({ sw: document.documentElement.scrollWidth, cw: document.documentElement.clientWidth }));
      expect(sw, `step ${step}`).toBeLessThanOrEqual(cw);
    }
    await page.click('#nav-node');
    await shot('7-zoom-200.png');
    await page.setViewport({ width: 1000, height: 760 });
  });

  it('no secret and not the launch token ever reached the page', async () => {
    expect(received.length).toBeGreaterThan(20);
    const all = [...received, await page.content()].join('\n');
    expect(all).toContain('titan-13');
    expect(all.split(TOKEN).length - 1).toBe(0);
    expect(all.split(PW).length - 1).toBe(0);
    expect(all.split(ui.token).length - 1).toBe(0);
  });

  it('renders the fleet table and the rejoin checklist in the formats of metis status / metis wait (STAND-INS)', async () => {
    // STAND-IN: `status` and `wait` live on other branches; these print their formats (a JSON array of
    // status rows; the checklist as "[ok] / [..] / [  ] Title[: detail]" blocks on stderr) so the page's
    // rendering is judged here. Everything else is the real runMetis.
    const hash = 'ab'.repeat(32);
    const standIn = async (argv: string[], io: Io): Promise<number> => {
      if (argv[0] === 'status') {
        io.out(`${JSON.stringify([
          { node: 'titan-13', ready: 'True', converged: 'True', reason: 'Converged', drift: 0, manifestHash: hash, manifest: 'current', notes: [], verdict: 'converged' },
          { node: 'titan-15', ready: 'False', converged: 'False', reason: 'Failed', drift: 2, manifestHash: null, manifest: 'changed', notes: ['inventory changed since this card: run metis push'], verdict: 'failed' },
        ], null, 2)}\n`);
        return 4;
      }
      if (argv[0] === 'wait') {
        io.err('waiting for titan-13 (192.168.22.13, up to 900 s)\n[ok] address answers\n[..] SSH with the escrowed host key: connection refused\n[  ] Node Ready\n--\n');
        await new Promise((r) => setTimeout(r, 300));
        io.err('[ok] address answers\n[ok] SSH with the escrowed host key\n[ok] Node Ready\n');
        io.out('titan-13 is back as itself (host key = escrowed key): 3 checks hold\n');
        return 0;
      }
      return runMetis(argv, io);
    };
    const server = await startUiServer({ port: 0, run: standIn, io: { out: () => {}, err: () => {}, isTTY: false, ask: async () => null, env: { PATH: process.env['PATH'], HOME: t.dir } }, inventory: inv });
    const p2 = await browser.newPage();
    try {
      await p2.goto(server.url);
      await p2.waitForFunction(() => /cluster: Ready · converged/.test(document.querySelector('#node-titan-13 + label')?.textContent ?? ''));
      expect(await p2.$eval('#node-titan-15 + label', (e) => e.textContent)).toContain('cluster: NotReady · failed');
      await p2.click('#nav-fleet');
      await p2.waitForSelector('#fleet tbody tr');
      const table = await p2.$$eval('#fleet tr', (rs) => rs.map((r) => [...r.children].map((c) => c.textContent)));
      expect(table[0]).toEqual(['node', 'ready', 'converged', 'reason', 'drift', 'manifestHash', 'manifest', 'notes', 'verdict']);
      expect(table[1]).toEqual(['titan-13', 'True', 'True', 'Converged', '0', 'abababababab…', 'current', '—', 'converged']);
      expect(table[2]![7]).toBe('inventory changed since this card: run metis push');
      await p2.evaluate(() => fetch('api/wait', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ node: 'titan-13' }) }));
      await p2.waitForFunction(() => document.querySelectorAll('#checklist li.pass').length === 4);
      const items = await p2.$$eval('#checklist li', (ls) => ls.map((l) => l.textContent));
      expect(items).toEqual(['✓pass: address answers', '✓pass: SSH with the escrowed host key', '✓pass: Node Ready', '✓pass: titan-13 is back as itself (host key = escrowed key): 3 checks hold']);
      expect(await p2.$eval('#wait-error', (e) => (e as HTMLElement).hidden)).toBe(true);
    } finally {
      await p2.close();
      await server.close();
    }
  });
});
