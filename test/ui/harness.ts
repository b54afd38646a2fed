import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

export const CHROMIUM = '/usr/bin/chromium';

export interface UiProcess {
  child: ChildProcess;
  url: string;
  port: number;
  token: string;
  stdout: () => string;
  stderr: () => string;
  stop: () => Promise<number | null>;
}

/** `node dist/metis.js ui --no-open …` as a user runs it; resolves once it printed its URL. */
export async function startUi(bundle: string, args: string[], env: NodeJS.ProcessEnv): Promise<UiProcess> {
  const child = spawn(process.execPath, [bundle, 'ui', '--no-open', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`metis ui printed no URL in 15 s: ${out}${err}`)), 15_000);
    const check = () => {
      const m = /metis ui: (http:\/\/127\.0\.0\.1:\d+\/[A-Za-z0-9_-]+\/)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => reject(new Error(`metis ui exited ${code}: ${out}${err}`)));
  });
  const u = new URL(url);
  return {
    child,
    url,
    port: Number(u.port),
    token: u.pathname.split('/')[1]!,
    stdout: () => out,
    stderr: () => err,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGINT');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw HTTP request with any headers (fetch would not let us forge Host). */
export function raw(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { ...headers, ...(body ? { 'Content-Length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
      let b = '';
      res.on('data', (d: Buffer) => (b += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}

/** Debian's chromium, headless, in a fresh profile that is removed on close. */
export async function launchChromium(): Promise<{ browser: Browser; close: () => Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'metis-ui-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`],
  });
  return {
    browser,
    close: async () => {
      await browser.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * A page of `browser` at the size the tests use, recording into `received` every body it fetches
 * (but the event stream's) and every event-stream message: what the tests search for secrets.
 */
export async function recordingPage(browser: Browser, received: string[]): Promise<Page> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1000, height: 760 });
  const cdp = await page.createCDPSession();
  await cdp.send('Network.enable');
  cdp.on('Network.eventSourceMessageReceived', (e) => received.push(e.data));
  page.on('response', (r) => {
    if (r.url().endsWith('/events')) return;
    void r.text().then((b) => received.push(b), () => {});
  });
  return page;
}

/** A loop device over a fresh backing file: a card being inserted. */
export function attachLoop(backing: string, sizeMiB: number): string {
  execFileSync('truncate', ['-s', `${sizeMiB}M`, backing]);
  return execFileSync('losetup', ['-f', '--show', backing], { encoding: 'utf8' }).trim();
}

export function detachLoop(dev: string): void {
  try {
    execFileSync('losetup', ['-d', dev], { stdio: 'ignore' });
  } catch {
    /* already gone */
  }
}

/** An HTTP/1.0 request with no Host header at all (node's client always adds one). */
export function rawNoHost(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => sock.end(`GET ${path} HTTP/1.0\r\n\r\n`));
    let b = '';
    sock.on('data', (d: Buffer) => (b += d.toString()));
    sock.on('end', () => resolve(b));
    sock.on('error', reject);
    sock.setTimeout(10_000, () => sock.destroy(new Error('timeout')));
  });
}

const BLKIO = '/sys/fs/cgroup/blkio/blkio.throttle.write_bps_device';
export const CAN_THROTTLE = existsSync(BLKIO);

/** Throttles writes to a block device like a slow card (cgroup v1 blkio); returns the undo. No-op without blkio. */
export function throttle(dev: string, bytesPerSec: number): () => void {
  if (!existsSync(BLKIO)) return () => {};
  const [maj, min] = execFileSync('lsblk', ['-dno', 'MAJ:MIN', dev], { encoding: 'utf8' }).trim().split(':');
  writeFileSync(BLKIO, `${maj}:${min} ${bytesPerSec}`);
  return () => writeFileSync(BLKIO, `${maj}:${min} 0`);
}
