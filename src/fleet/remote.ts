import type { Report } from '../bootstrap/report.js';
import { SshError, formatSshTarget, sshRun } from '../lib/ssh.js';
import type { FleetNode } from './targets.js';

/** One node's outcome in a fleet command, each failure to judge it with its own name. */
export type HostStatus =
  | 'ok'
  | 'drift'
  | 'changed'
  | 'failed'
  | 'error'
  | 'unreachable'
  | 'host-key'
  | 'auth'
  | 'timeout'
  | 'no-metis'
  | 'manifest-newer'
  | 'no-manifest'
  | 'refused';

export interface HostResult {
  node: string;
  target: string;
  status: HostStatus;
  /** The remote command's exit code, when it ran. */
  exitCode?: number;
  /** One line: why, for every status but ok. */
  message?: string;
  report?: Report;
  durationMs: number;
}

/** The remote program; METIS_BOOTSTRAP replaces it (a path; "{node}" is the node's name) for nodes that keep it elsewhere. */
export function bootstrapCommand(node: FleetNode, env: NodeJS.ProcessEnv): string {
  return (env.METIS_BOOTSTRAP || 'metis-bootstrap').split('{node}').join(node.name);
}

export interface RemoteOptions {
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  input?: string;
  signal?: AbortSignal;
}

export interface RemoteRun<T> {
  status: HostStatus;
  exitCode?: number;
  message?: string;
  value?: T;
  stderr: string;
}

const lastLine = (s: string) => s.trim().split('\n').filter(Boolean).slice(-1)[0]?.slice(0, 300) ?? '';

function sshStatus(e: SshError): HostStatus {
  switch (e.code) {
    case 'E_SSH_HOST_KEY':
      return 'host-key';
    case 'E_SSH_AUTH':
      return 'auth';
    case 'E_SSH_TIMEOUT':
      return 'timeout';
    case 'E_SSH_UNREACHABLE':
      return 'unreachable';
    default:
      return 'error';
  }
}

/**
 * Runs `metis-bootstrap ARGS --json` on the node over the one SSH helper and parses its JSON
 * answer. Never throws: ssh's own failures, a missing program, an answer that is not JSON each
 * become a status with a message.
 */
export async function runRemoteJson<T>(node: FleetNode, args: string[], o: RemoteOptions): Promise<RemoteRun<T>> {
  const prog = bootstrapCommand(node, o.env);
  let r;
  try {
    r = await sshRun(node.ssh, [prog, ...args, '--json'], { env: o.env, timeoutMs: o.timeoutMs, input: o.input, signal: o.signal, connectTimeoutSec: Math.max(1, Math.min(10, Math.ceil(o.timeoutMs / 1000))) });
  } catch (e) {
    if (e instanceof SshError) return { status: sshStatus(e), message: e.message, stderr: e.stderr };
    return { status: 'error', message: (e as Error).message, stderr: '' };
  }
  // 127: the shell found no such program; 126: found but not executable.
  if (r.exitCode === 127 || r.exitCode === 126) {
    return { status: 'no-metis', exitCode: r.exitCode, message: `${prog} not found on ${formatSshTarget(node.ssh)}: not a Metis node, or an image without metis-bootstrap (${lastLine(r.stderr)})`, stderr: r.stderr };
  }
  try {
    return { status: 'ok', exitCode: r.exitCode, value: JSON.parse(r.stdout) as T, stderr: r.stderr };
  } catch {
    const why = lastLine(r.stderr) || lastLine(r.stdout) || 'no output';
    // An older bootstrap refuses a flag it does not know before printing any JSON.
    const old = /Unknown option|unknown option|ERR_PARSE_ARGS/.test(r.stderr);
    return { status: old ? 'no-metis' : 'error', exitCode: r.exitCode, message: old ? `${prog} on this node is too old for this command: ${why}` : `exit ${r.exitCode}: ${why}`, stderr: r.stderr };
  }
}

/** A bootstrap report's status: Puppet's exit codes, or why it could not run. */
export function reportStatus(r: Report, mode: 'check' | 'apply'): { status: HostStatus; message?: string } {
  if (r.error !== undefined) {
    if (r.errorCode === 'E_SCHEMA_VERSION') return { status: 'manifest-newer', message: r.error };
    if (r.errorCode === 'E_NO_MANIFEST') return { status: 'no-manifest', message: r.error };
    return { status: 'error', message: r.error };
  }
  if (r.summary.failed > 0) return { status: 'failed', message: `failed: ${r.tasks.filter((t) => t.status === 'failed').map((t) => `${t.name} (${t.reason ?? 'no reason'})`).join('; ')}` };
  if (r.summary.changed > 0) return { status: mode === 'check' ? 'drift' : 'changed' };
  return { status: 'ok' };
}

/** Bounded fan-out: at most `parallel` at once, results in input order. */
export async function fanOut<T, R>(items: T[], parallel: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, items.length)) }, worker));
  return out;
}
