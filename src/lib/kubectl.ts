import { execa } from 'execa';
import { MetisError } from './errors.js';

/**
 * The one way Metis talks to a cluster from the operator's side: the real `kubectl` client, with
 * the operator's kubeconfig and context, argv only. Reads go through `kubectl get --raw`, which
 * needs no discovery and returns the API's own JSON, so the output does not depend on kubectl's
 * printers. `KUBECTL` overrides the binary (tests never need it; it is for odd installs).
 */
export interface KubectlOptions {
  context?: string;
  kubeconfig?: string;
  /** Per-call limit; kubectl's own --request-timeout is set from it. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

export type KubeErrorKind = 'missing' | 'unreachable' | 'unauthorized' | 'forbidden' | 'not-found' | 'error';

export class KubeError extends MetisError {
  readonly kind: KubeErrorKind;
  constructor(kind: KubeErrorKind, message: string, cause?: unknown) {
    super(`E_KUBE_${kind.toUpperCase().replace('-', '_')}`, message, { cause });
    this.kind = kind;
  }
}

function classify(stderr: string): KubeErrorKind {
  if (/\(NotFound\)|not found/i.test(stderr)) return 'not-found';
  if (/\(Unauthorized\)|must be logged in|Unauthorized/i.test(stderr)) return 'unauthorized';
  if (/\(Forbidden\)|forbidden/i.test(stderr)) return 'forbidden';
  if (/connection refused|was refused|no such host|i\/o timeout|Client\.Timeout|context deadline exceeded|Unable to connect|dial tcp|no route to host|certificate/i.test(stderr)) return 'unreachable';
  return 'error';
}

const HINT: Record<KubeErrorKind, string> = {
  missing: 'install kubectl (Debian: apt-get install kubernetes-client) or put it on PATH',
  unreachable: 'check the kubeconfig context and that the API server is reachable from here',
  unauthorized: 'the kubeconfig credentials were refused; refresh them (e.g. copy /etc/rancher/k3s/k3s.yaml again)',
  forbidden: 'the kubeconfig user lacks the permission; use an admin context',
  'not-found': '',
  error: '',
};

export async function kubectl(args: string[], opts: KubectlOptions = {}): Promise<string> {
  const bin = opts.env?.KUBECTL ?? process.env.KUBECTL ?? 'kubectl';
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const argv = [
    ...(opts.kubeconfig ? ['--kubeconfig', opts.kubeconfig] : []),
    ...(opts.context ? ['--context', opts.context] : []),
    `--request-timeout=${Math.max(1, Math.ceil(timeoutMs / 1000))}s`,
    ...args,
  ];
  const r = await execa(bin, argv, { reject: false, stdin: 'ignore', timeout: timeoutMs + 5_000, cancelSignal: opts.signal, env: opts.env, extendEnv: !opts.env });
  if ((r as { code?: string }).code === 'ENOENT' || (r.failed && /ENOENT/.test(String(r.message)) && r.exitCode === undefined)) {
    throw new KubeError('missing', `kubectl not found (${bin}): ${HINT.missing}`);
  }
  if (r.timedOut) throw new KubeError('unreachable', `kubectl ${args.join(' ')} timed out after ${timeoutMs} ms: ${HINT.unreachable}`);
  if (r.exitCode !== 0) {
    const stderr = String(r.stderr).trim().split('\n').slice(-3).join(' ');
    const kind = classify(stderr);
    throw new KubeError(kind, `kubectl ${args.join(' ')}: ${stderr || `exit ${r.exitCode}`}${HINT[kind] ? ` (${HINT[kind]})` : ''}`);
  }
  return String(r.stdout);
}

/** GET an API path as JSON; `null` when the object does not exist. */
export async function kubeGet<T = unknown>(path: string, opts: KubectlOptions = {}): Promise<T | null> {
  try {
    return JSON.parse(await kubectl(['get', '--raw', path], opts)) as T;
  } catch (err) {
    if (err instanceof KubeError && err.kind === 'not-found') return null;
    throw err;
  }
}

/** DELETE an API path; false when it was already gone. */
export async function kubeDelete(path: string, opts: KubectlOptions = {}): Promise<boolean> {
  try {
    await kubectl(['delete', '--raw', path], opts);
    return true;
  } catch (err) {
    if (err instanceof KubeError && err.kind === 'not-found') return false;
    throw err;
  }
}

export interface KubeVersion {
  gitVersion: string;
  major: string;
  minor: string;
}

export async function serverVersion(opts: KubectlOptions = {}): Promise<KubeVersion> {
  const v = await kubeGet<KubeVersion>('/version', opts);
  if (!v?.gitVersion) throw new KubeError('error', 'the API server did not report a version');
  return v;
}
