import { MetisError } from '../lib/errors.js';
import { type SshTarget, SshError, classifySshFailure, formatSshTarget, sshSpawn } from '../lib/ssh.js';
import { HostError, RemoteAgentError } from './errors.js';
import { type HostFacts, type ProbeRequest, parseProbe, probeArgv } from './probe.js';
import { type AgentEvent, lineReader, PING_SEC } from './protocol.js';

export type TargetEvent = Extract<AgentEvent, { event: 'target' }>;
export type DoneEvent = Extract<AgentEvent, { event: 'done' }>;

export interface RunAgentOptions {
  env: NodeJS.ProcessEnv;
  sha256: string;
  bmapSha256?: string;
  target: string;
  kind: 'device' | 'file';
  verify: boolean;
  /** The sudo password (privilege 'sudo-password'): the first line on the channel, read by `sudo -S`. */
  password?: string;
  /** The stamped manifest text: sent after confirmation, inside the channel only. */
  manifest: string;
  /** Called with the host's view of the target; throws to decline (nothing is written). */
  confirm: (e: TargetEvent) => Promise<void>;
  /** The image is still arriving in the receive's temp file on the host (`--follow PATH --follow-size N`). */
  follow?: { path: string; size: number };
  /** Awaited before the agent may write the first MiB (`commit`); a rejection aborts instead (the old first MiB stays). */
  beforeCommit?: () => Promise<void>;
  onProgress: (e: { phase: string; bytes: number; total: number }) => void;
  signal?: AbortSignal;
}

/** The burn agent's own arguments after `burn --cache DIR` (what the probe's fast path passes on). */
export function agentArgs(o: Pick<RunAgentOptions, 'sha256' | 'bmapSha256' | 'target' | 'kind' | 'verify' | 'follow'>): string[] {
  return [
    '--sha256',
    o.sha256,
    ...(o.bmapSha256 ? ['--bmap-sha256', o.bmapSha256] : []),
    '--target',
    o.target,
    '--kind',
    o.kind,
    ...(o.verify ? [] : ['--no-verify']),
    ...(o.follow ? ['--follow', o.follow.path, '--follow-size', String(o.follow.size)] : []),
  ];
}

/** The privilege prefix: nothing for root, `sudo -n` when passwordless, `sudo -S` (password on stdin) otherwise. */
export function agentArgv(facts: HostFacts, o: Pick<RunAgentOptions, 'sha256' | 'bmapSha256' | 'target' | 'kind' | 'verify' | 'follow'>): string[] {
  const sudo = facts.privilege === 'root' ? [] : facts.privilege === 'sudo-nopasswd' ? ['sudo', '-n', '--'] : ['sudo', '-S', '-p', '', '--'];
  return [...sudo, facts.node, facts.bundlePath, 'burn-agent', 'burn', '--cache', facts.cacheDir, ...agentArgs(o)];
}

/** A probe (a few reads) that has not said fast=go/no by then is stopped, as a plain probe was. */
export const PROBE_TIMEOUT_MS = 60_000;

const SUDO_REFUSED = /Sorry, try again|incorrect password|a password is required|is not in the sudoers|may not run sudo|not allowed to execute/i;

/**
 * One SSH channel, one agent process (under one sudo), one password line at most. Ctrl-C (the
 * signal) sends `abort` and waits for the agent to exit before closing the channel, so no writer
 * outlives the burn; a dropped channel makes the agent abort on its own (EOF / watchdog).
 */
export async function runBurnAgent(target: SshTarget, facts: HostFacts, o: RunAgentOptions): Promise<DoneEvent> {
  return (await driveAgent(target, agentArgv(facts, o), o)).done!;
}

/**
 * A repeat burn in one remote command: the probe (probe.ts), which becomes the agent when the host
 * holds the bundle and every blob and needs no password. `onFacts` hears the host's facts as soon
 * as the probe has printed them and said "fast=go", before any agent event. Otherwise (any other
 * case, e.g. a first burn, a password to ask): `done` is absent, and the caller goes on from
 * `facts` as after a plain probe; nothing was started on the host.
 */
export async function probeThenBurn(target: SshTarget, probe: ProbeRequest, o: RunAgentOptions, onFacts: (facts: HostFacts) => void): Promise<{ facts: HostFacts; done?: DoneEvent }> {
  const host = formatSshTarget(target);
  let text = '';
  let facts: HostFacts | undefined;
  let fast: boolean | undefined;
  const r = await driveAgent(target, probeArgv(probe, agentArgs(o)), o, (line) => {
    if (fast !== undefined) return;
    if (line === 'fast=go' || line === 'fast=no') {
      fast = line === 'fast=go';
      // fast=go: the probe checked node, privilege, bundle and blobs; these facts parse.
      if (fast) onFacts((facts = parseProbe(host, text, 0, '', probe.blobs)));
    } else text += `${line}\n`;
  }, () => !fast);
  if (fast) return { facts: facts!, done: r.done! };
  // No agent ran: the probe's own outcome, judged as a plain probe is.
  return { facts: parseProbe(host, text, r.code, r.stderr, probe.blobs) };
}

/**
 * One SSH channel running `argv` (an agent, or a probe that may become one): `onText` hears its
 * non-JSON lines; when `notStarted` says no agent ran, its end is returned, not judged.
 */
async function driveAgent(target: SshTarget, argv: string[], o: RunAgentOptions, onText?: (line: string) => void, notStarted?: () => boolean): Promise<{ done?: DoneEvent; code: number | null; stderr: string }> {
  const host = formatSshTarget(target);
  const proc = sshSpawn(target, argv, { env: o.env });
  let stderr = '';
  let sudoRefused = false;
  proc.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
    if (stderr.length > 65536) stderr = stderr.slice(-32768);
    if (!sudoRefused && !ready && SUDO_REFUSED.test(stderr)) {
      sudoRefused = true;
      // sudo -S would read the next line as another attempt: give it none.
      proc.kill('SIGTERM');
    }
  });
  proc.stdin.on('error', () => {});
  const send = (obj: unknown) => {
    if (!proc.stdin.destroyed && proc.stdin.writable) proc.stdin.write(`${JSON.stringify(obj)}\n`);
  };
  if (o.password !== undefined) proc.stdin.write(`${o.password}\n`);

  let ready = false;
  let done: DoneEvent | null = null;
  let failure: Extract<AgentEvent, { event: 'error' }> | null = null;
  let declined: unknown = null;
  let ping: NodeJS.Timeout | null = null;
  let aborted = false;

  const onAbort = () => {
    aborted = true;
    send({ cmd: 'abort' });
    // Give the agent a bounded moment to stop its writer and exit; then cut the channel.
    setTimeout(() => proc.kill('SIGTERM'), 10_000).unref();
  };
  if (o.signal?.aborted) onAbort();
  o.signal?.addEventListener('abort', onAbort, { once: true });

  proc.stdout.on(
    'data',
    lineReader((line) => {
      let e: AgentEvent;
      try {
        e = JSON.parse(line) as AgentEvent;
      } catch {
        onText?.(line);
        return;
      }
      if (e.event === 'ready') {
        ready = true;
        ping = setInterval(() => send({ cmd: 'ping' }), PING_SEC * 1000);
      } else if (e.event === 'progress') o.onProgress(e);
      else if (e.event === 'target') {
        o.confirm(e).then(
          () => (aborted ? undefined : send({ cmd: 'go', manifest: o.manifest })),
          (err: unknown) => {
            declined = err;
            send({ cmd: 'abort' });
            proc.stdin.end();
          },
        );
      } else if (e.event === 'commit') {
        (o.beforeCommit?.() ?? Promise.resolve()).then(
          () => (aborted ? undefined : send({ cmd: 'commit' })),
          () => (aborted ? undefined : onAbort()),
        );
      } else if (e.event === 'done') done = e;
      else if (e.event === 'error') failure = e;
    }),
  );

  // Only the probe part is bounded: an agent that started is watched by its pings.
  let timedOut = false;
  const probeTimer = notStarted ? setTimeout(() => {
    if (!notStarted()) return;
    timedOut = true;
    proc.kill('SIGTERM');
  }, PROBE_TIMEOUT_MS) : null;
  const code = await proc.exited;
  if (probeTimer) clearTimeout(probeTimer);
  if (timedOut) throw new SshError('E_SSH_TIMEOUT', host, `${host}: probing the host did not finish within ${PROBE_TIMEOUT_MS / 1000} s; nothing was written`, stderr);
  if (ping) clearInterval(ping);
  o.signal?.removeEventListener('abort', onAbort);
  proc.stdin.destroy();
  if (declined) throw declined;
  if (done) return { done, code, stderr };
  const f = failure as Extract<AgentEvent, { event: 'error' }> | null;
  if (f) throw new RemoteAgentError(f.code, host, f.message, f.exitCode);
  if (sudoRefused) throw new HostError('E_HOST_SUDO', host, `sudo refused: ${stderr.trim().split('\n').pop()}; nothing was written`);
  if (aborted) throw new MetisError('E_ABORTED', `${host}: burn interrupted; the agent stopped before the partition table was written`);
  const ssh = classifySshFailure(host, code, stderr);
  if (ssh) throw ssh;
  if (notStarted?.()) return { code, stderr };
  if (!ready && /sudo/.test(stderr)) throw new HostError('E_HOST_SUDO', host, `sudo failed: ${stderr.trim()}; nothing was written`);
  throw new HostError('E_HOST_PROTOCOL', host, `the burn agent ended without a result (exit ${code}): ${stderr.trim() || 'no message'}`);
}
