import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Io } from '../inventory/io.js';
import { DeviceWatch } from './device-watch.js';
import { EventHub } from './event-hub.js';
import { flashersView, knownFlasher } from './flashers-view.js';
import { guard } from './guard.js';
import { Jobs } from './jobs.js';
import type { RunMetis } from './line-io.js';
import { APP_CSS } from './page/app-css.js';
import { APP_JS } from './page/app-js.js';
import { INDEX_HTML } from './page/index-html.js';
import { cacheFlag, invFlag, manifestView, nodesView, statusView, type UiOptions } from './views.js';

export interface UiServerOptions extends UiOptions {
  port: number;
  run: RunMetis;
  io: Io;
}

export interface UiServer {
  /** http://127.0.0.1:PORT/TOKEN/ — the only way in. */
  url: string;
  port: number;
  close: () => Promise<void>;
}

const SECURITY_HEADERS = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
};

const STATIC: Record<string, [string, string]> = {
  '/': ['text/html; charset=utf-8', INDEX_HTML],
  '/app.js': ['text/javascript; charset=utf-8', APP_JS],
  '/app.css': ['text/css; charset=utf-8', APP_CSS],
};

const NODE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** A cluster.yaml flashers name (the schema's own rule); it must then also be one of the inventory's names. */
const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;
const MAX_BODY = 64 * 1024;

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
const json = (res: ServerResponse, status: number, v: unknown) => send(res, status, 'application/json; charset=utf-8', JSON.stringify(v));

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, 'request too large');
    chunks.push(c as Buffer);
  }
  try {
    const v = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* fall through */
  }
  throw new HttpError(400, 'body must be a JSON object');
}

function str(b: Record<string, unknown>, key: string, re?: RegExp): string | undefined {
  const v = b[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' || (re && !re.test(v))) throw new HttpError(400, `invalid ${key}`);
  return v;
}

/**
 * `metis ui`'s server: 127.0.0.1 only, one random token per launch in every path, the page and its
 * two assets, one event stream, and JSON actions that run the CLI's own commands in-process.
 */
export async function startUiServer(o: UiServerOptions): Promise<UiServer> {
  const token = randomBytes(24).toString('base64url');
  const watch: { w?: DeviceWatch } = {};
  const hub = new EventHub((n) => watch.w?.clients(n));
  const devices = new DeviceWatch(o.run, o.io, hub, invFlag(o));
  watch.w = devices;
  const jobs = new Jobs(o.run, o.io, hub);

  /** Only a name from cluster.yaml `flashers:` reaches argv; anything else is refused unechoed. */
  async function flasher(name: string): Promise<string> {
    const known = await knownFlasher(o, name);
    if (!known) throw new HttpError(400, 'unknown flashing host: not a cluster.yaml flashers name');
    return known;
  }

  async function route(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (req.method === 'GET' || req.method === 'HEAD') {
      const asset = STATIC[path];
      if (asset) return send(res, 200, asset[0], asset[1]);
      if (path === '/events') {
        for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
        return hub.attach(res);
      }
      const q = new URL(req.url ?? '/', 'http://127.0.0.1').searchParams;
      if (path === '/api/nodes') return json(res, 200, await nodesView(o.run, o.io, o));
      if (path === '/api/flashers') return json(res, 200, await flashersView(o));
      if (path === '/api/status') return json(res, 200, await statusView(o.run, o.io, o));
      if (path === '/api/manifest') {
        const node = q.get('node') ?? '';
        if (!NODE_NAME.test(node)) throw new HttpError(400, 'invalid node');
        return json(res, 200, await manifestView(o.run, o.io, o, node));
      }
      throw new HttpError(404, 'not found');
    }
    const b = await body(req);
    if (path === '/api/watch') {
      const host = str(b, 'host', HOST_NAME);
      devices.watch(host ? await flasher(host) : null);
      return json(res, 200, { ok: true });
    }
    if (path === '/api/burn') {
      const node = str(b, 'node', NODE_NAME);
      const device = str(b, 'device', /^\/dev\/[A-Za-z0-9/_.-]+$/);
      const to = str(b, 'to', /^[^\0-\x1f-][^\0-\x1f]*$/);
      const named = str(b, 'host', HOST_NAME);
      const host = named ? await flasher(named) : undefined;
      if (!node) throw new HttpError(400, 'choose a node');
      if (Boolean(device) === Boolean(to)) throw new HttpError(400, 'choose a card or an image file');
      if (jobs.running('burn')) throw new HttpError(409, 'a burn is already running');
      const argv = ['burn', node, ...(host ? [`--host=${host}`] : []), ...(device ? ['--device', device] : ['--to', to!]), '--json', ...invFlag(o), ...cacheFlag(o)];
      return json(res, 200, { job: jobs.start('burn', argv, { node, device: device ?? null, to: to ?? null, host: host ?? null }) });
    }
    if (path === '/api/wait') {
      const node = str(b, 'node', NODE_NAME);
      if (!node) throw new HttpError(400, 'choose a node');
      const old = jobs.running('wait');
      if (old) jobs.cancel(old.id);
      return json(res, 200, { job: jobs.start('wait', ['wait', node, ...invFlag(o)], { node }) });
    }
    if (path === '/api/answer') {
      const answer = str(b, 'answer', /^(yes|no)$/) as 'yes' | 'no' | undefined;
      if (!answer || !jobs.answer(str(b, 'job', /^[0-9a-f]{12}$/) ?? '', answer)) throw new HttpError(409, 'no question is waiting');
      return json(res, 200, { ok: true });
    }
    if (path === '/api/cancel') {
      if (!jobs.cancel(str(b, 'job', /^[0-9a-f]{12}$/) ?? '')) throw new HttpError(409, 'no such job running');
      return json(res, 200, { ok: true });
    }
    throw new HttpError(404, 'not found');
  }

  const server = createServer((req, res) => {
    const v = guard({ method: req.method ?? '', url: req.url ?? '/', headers: req.headers }, token);
    if (!v.ok) {
      req.resume();
      return send(res, v.status, 'text/plain; charset=utf-8', `${v.reason}\n`);
    }
    if (v.path === '/' && !new URL(req.url ?? '/', 'http://127.0.0.1').pathname.endsWith('/')) {
      // /TOKEN → /TOKEN/, so the page's relative URLs stay under the token.
      res.writeHead(308, { ...SECURITY_HEADERS, Location: `/${token}/` });
      return res.end();
    }
    route(req, res, v.path).catch((e: unknown) => {
      const status = e instanceof HttpError ? e.status : 500;
      if (!res.headersSent) json(res, status, { error: e instanceof Error ? e.message : String(e) });
      else res.end();
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, '127.0.0.1', () => resolve());
  });
  // Keeps idle event streams open through proxies and ssh tunnels.
  const ping = setInterval(() => hub.ping(), 15_000);
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/${token}/`,
    port,
    close: async () => {
      clearInterval(ping);
      devices.stop();
      await jobs.stop();
      hub.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
