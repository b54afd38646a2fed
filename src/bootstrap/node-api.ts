import { promises as fsp } from 'node:fs';
import type { Agent } from 'node:https';
import { httpsModule } from './https.js';
import { readNodeCredential, type NodeCredential } from './node-kubeconfig.js';
import { VERSION } from '../core/version.js';

export interface Reply {
  status: number;
  body: string;
}

/** Default for one request (the TLS handshake included when it opens the connection). */
const REQUEST_TIMEOUT_MS = 10_000;

export function apiMessage(r: Reply): string {
  try {
    const m = (JSON.parse(r.body) as { message?: string }).message;
    if (m) return `HTTP ${r.status}: ${m.slice(0, 300)}`;
  } catch {
    // not JSON
  }
  return `HTTP ${r.status}`;
}

/**
 * The node's own view of the API: one kubeconfig (the kubelet's, system:node:NAME), one kept-alive
 * TLS connection for a run. The run opens it before its plan, so the handshake and the read of the
 * Node happen beside the checks; the `k3s_node` check and the report after the run share that read
 * and that connection (docs/bootstrap.md, "Boot time"). Credential material is never printed.
 */
export class NodeApi {
  private session: Promise<{ cred: NodeCredential; agent: Agent }> | null = null;
  private readonly nodes = new Map<string, Promise<Reply>>();

  constructor(
    /** The kubeconfig on this host (under ROOT for a sysroot). */
    readonly file: string,
    private readonly root: string,
    private readonly timeoutMs = REQUEST_TIMEOUT_MS,
  ) {}

  /** false while the kubeconfig does not exist (k3s has not joined yet): asked again on every call. */
  async available(): Promise<boolean> {
    return this.session !== null || (await fsp.stat(this.file).then((s) => s.isFile(), () => false));
  }

  /** The credential and kept-alive agent, made once; a failure (no readable kubeconfig) is not kept. */
  private open(): Promise<{ cred: NodeCredential; agent: Agent }> {
    const opening = (this.session ??= readNodeCredential(this.file, this.root).then((cred) => ({
      cred,
      agent: new (httpsModule().Agent)({ keepAlive: true, maxSockets: 1, ca: cred.ca, cert: cred.cert, key: cred.key }),
    })));
    opening.catch(() => this.session === opening && (this.session = null));
    return opening;
  }

  /** One API call on the shared connection; rejects on a transport error or after the timeout. */
  async request(method: string, path: string, body?: unknown, type?: string, timeoutMs = this.timeoutMs): Promise<Reply> {
    const { cred, agent } = await this.open();
    const https = httpsModule();
    return new Promise((resolve, reject) => {
      const url = new URL(path, cred.server);
      const headers: Record<string, string> = { accept: 'application/json', 'user-agent': `metis-bootstrap/${VERSION}` };
      if (cred.token) headers.authorization = `Bearer ${cred.token}`;
      const data = body === undefined ? undefined : JSON.stringify(body);
      if (data !== undefined) headers['content-type'] = type ?? 'application/merge-patch+json';
      const signal = AbortSignal.timeout(timeoutMs);
      const req = https.request(url, { method, headers, agent, signal }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (text.length < 1 << 20) text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', reject);
      });
      req.on('error', (e) => reject(signal.aborted ? new Error(`no answer within ${timeoutMs} ms`) : e));
      req.end(data);
    });
  }

  /**
   * GET the Node NAME. A 200 is kept for the run (the plan's read is the report's); anything else
   * is asked again by the next caller (k3s may have joined in between).
   */
  node(name: string): Promise<Reply> {
    const kept = this.nodes.get(name);
    if (kept) return kept;
    const p = this.request('GET', nodePath(name));
    this.nodes.set(name, p);
    p.then(
      (r) => r.status === 200 || this.nodes.delete(name),
      () => this.nodes.delete(name),
    );
    return p;
  }

  /**
   * Opens the kept-alive connection ahead of use: the boot run does this while it waits for the
   * network (docs/bootstrap.md, "Boot time"), so the full run finds the TLS handshake done. One
   * read of the Node per attempt, its answer dropped (the run reads the Node afresh after the
   * wait); attempts every `retryMs` while there is no kubeconfig yet or no answer, none started
   * once `until` has settled. Resolves as soon as `until` settles or an attempt is answered; an
   * attempt still in flight then goes on beside the run (bounded by `attemptMs`).
   */
  async warm(name: string, until: Promise<unknown>, retryMs = 500, attemptMs = 3_000): Promise<WarmOutcome> {
    let done = false;
    const ended = until.then(
      () => (done = true),
      () => (done = true),
    );
    let outcome: WarmOutcome = 'no kubeconfig';
    const attempts = (async () => {
      while (!done) {
        const kubeconfig = await this.available();
        if (done) return;
        if (kubeconfig) {
          const answered = await this.request('GET', nodePath(name), undefined, undefined, attemptMs).then(() => true, () => false);
          outcome = answered ? 'connected' : 'no answer';
          if (answered || done) return;
        }
        await new Promise<void>((res) => setTimeout(res, retryMs).unref());
      }
    })();
    await Promise.race([attempts, ended]);
    return outcome;
  }

  /** After a write to the Node: the next read asks the server again. */
  forget(name: string): void {
    this.nodes.delete(name);
  }

  /** Ends the kept-alive connection (the run's last step). */
  close(): void {
    this.session?.then(
      (s) => s.agent.destroy(),
      () => {},
    );
    this.session = null;
    this.nodes.clear();
  }
}

/** What NodeApi.warm found: the connection open, or why not (yet). */
export type WarmOutcome = 'connected' | 'no kubeconfig' | 'no answer';

export const nodePath = (name: string) => `/api/v1/nodes/${encodeURIComponent(name)}`;
