import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { MetisError } from './errors.js';

/**
 * The one SSH helper of the project. It runs the system `ssh`, so `~/.ssh/config`, ProxyJump, the
 * agent and known_hosts work as the operator set them up; host-key checking is never turned off
 * here (no StrictHostKeyChecking, no UserKnownHostsFile override). Secrets never go into argv:
 * callers pass them as `input` (stdin of the remote command).
 *
 * Environment: METIS_SSH replaces the ssh binary (tests put a byte-counting wrapper there);
 * METIS_SSH_CONFIG adds `-F FILE`.
 *
 * One operation, one connection: `withSshSession` opens an OpenSSH master (ControlMaster) for the
 * duration of one operation; every command to the target it hands out rides that connection.
 */

export interface SshTarget {
  user?: string;
  host: string;
  port?: number;
  /** ControlPath of an open session master (withSshSession): commands ride its one connection. */
  mux?: string;
}

export type SshErrorCode = 'E_SSH_TARGET' | 'E_SSH_UNREACHABLE' | 'E_SSH_HOST_KEY' | 'E_SSH_AUTH' | 'E_SSH_TIMEOUT' | 'E_SSH_ABORTED' | 'E_SSH';

export class SshError extends MetisError {
  readonly target: string;
  readonly stderr: string;
  constructor(code: SshErrorCode, target: string, message: string, stderr = '', cause?: unknown) {
    super(code, message, { path: target, cause });
    this.target = target;
    this.stderr = stderr;
  }
}

const HOST_RE = /^(?:[A-Za-z0-9_](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\])$/;
const USER_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/** `[user@]host[:port]` (IPv6 as `[addr]` or `[addr]:port`). Names from ssh_config (`Host titan-22`) pass as hosts. */
export function parseSshTarget(text: string): SshTarget {
  const bad = (why: string) => new SshError('E_SSH_TARGET', text, `invalid SSH target "${text}": ${why} (expected [USER@]HOST[:PORT])`);
  const s = text.trim();
  if (!s) throw bad('empty');
  const at = s.lastIndexOf('@');
  const user = at >= 0 ? s.slice(0, at) : undefined;
  let rest = at >= 0 ? s.slice(at + 1) : s;
  if (user !== undefined && !USER_RE.test(user)) throw bad('bad user name');
  let port: number | undefined;
  const m = /^(.*?):(\d+)$/.exec(rest);
  if (m && (rest.startsWith('[') ? m[1]!.endsWith(']') : !m[1]!.includes(':'))) {
    port = Number(m[2]);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad('port out of range 1-65535');
    rest = m[1]!;
  }
  if (!HOST_RE.test(rest)) throw bad('bad host name');
  const host = rest.startsWith('[') ? rest.slice(1, -1) : rest;
  return { ...(user !== undefined ? { user } : {}), host, ...(port !== undefined ? { port } : {}) };
}

/** The human form; a session's control path is not part of it. */
export function formatSshTarget(t: SshTarget): string {
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  return `${t.user ? `${t.user}@` : ''}${host}${t.port ? `:${t.port}` : ''}`;
}

/** POSIX single-quoting: the remote shell sees each argument exactly as given. */
export function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The one string ssh hands to the remote login shell. */
export function remoteCommand(argv: readonly string[]): string {
  if (argv.length === 0) throw new Error('remoteCommand: empty argv');
  return argv.map(shellQuote).join(' ');
}

export interface SshOptions {
  env?: NodeJS.ProcessEnv;
  /** Seconds for the TCP connect + handshake (ssh's ConnectTimeout). Default 10. */
  connectTimeoutSec?: number;
  /** Never prompt locally (passphrase, password, unknown host key): fail instead. Default true. */
  batchMode?: boolean;
  /** Request a remote pty (`-tt`): only for commands that must see a terminal. */
  tty?: boolean;
}

/** Options every ssh invocation gets (before the target). */
function baseArgs(opts: SshOptions): string[] {
  const env = opts.env ?? process.env;
  const args: string[] = [];
  if (env.METIS_SSH_CONFIG) args.push('-F', env.METIS_SSH_CONFIG);
  args.push('-o', `ConnectTimeout=${opts.connectTimeoutSec ?? 10}`);
  // A dropped link is noticed within ~15 s instead of a TCP timeout's minutes.
  args.push('-o', 'ServerAliveInterval=5', '-o', 'ServerAliveCountMax=3');
  if (opts.batchMode ?? true) args.push('-o', 'BatchMode=yes');
  return args;
}

const targetArgs = (target: SshTarget): string[] => [...(target.user ? ['-l', target.user] : []), ...(target.port ? ['-p', String(target.port)] : []), '--', target.host];

/** The ssh binary and its arguments for one remote argv. */
export function sshCommand(target: SshTarget, argv: readonly string[], opts: SshOptions = {}): { file: string; args: string[] } {
  const env = opts.env ?? process.env;
  const args = baseArgs(opts);
  // A session's client: use its master, never become one (ControlMaster=no); if the master is gone,
  // ssh connects on its own as it would without a session.
  if (target.mux) args.push('-o', 'ControlMaster=no', '-o', `ControlPath=${target.mux}`);
  args.push(opts.tty ? '-tt' : '-T');
  args.push(...targetArgs(target), remoteCommand(argv));
  return { file: env.METIS_SSH || 'ssh', args };
}

/**
 * How long an idle master outlives its last command when metis could not close it (killed with
 * SIGKILL): then it exits on its own. While metis runs, `close()` ends it with `ssh -O exit`.
 */
export const SESSION_PERSIST_SEC = 60;

/** The master's arguments: authenticate once, fork to the background (-f) with no command (-N). */
export function sshMasterCommand(target: SshTarget, controlPath: string, opts: SshOptions = {}): { file: string; args: string[] } {
  const env = opts.env ?? process.env;
  const args = [...baseArgs(opts), '-o', 'ControlMaster=yes', '-o', `ControlPath=${controlPath}`, '-o', `ControlPersist=${SESSION_PERSIST_SEC}`, '-N', '-f', ...targetArgs(target)];
  return { file: env.METIS_SSH || 'ssh', args };
}

/** Runs ssh itself (not a remote command) and collects its exit code and stderr. */
function runSsh(file: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number, signal?: AbortSignal): Promise<{ code: number | null; stderr: string; spawnError?: Error }> {
  return new Promise((resolve) => {
    const proc = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
    let stderr = '';
    proc.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const kill = () => proc.kill('SIGTERM');
    const timer = setTimeout(kill, timeoutMs);
    signal?.addEventListener('abort', kill, { once: true });
    const done = (r: { code: number | null; stderr: string; spawnError?: Error }) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', kill);
      resolve(r);
    };
    proc.once('error', (e) => done({ code: 255, stderr, spawnError: e }));
    // 'exit', not 'close': with -f, "authenticated and forked" is the exit of the process we ran;
    // its forked master points its stdio at /dev/null, but a wrapper in METIS_SSH might not.
    proc.once('exit', (code) => {
      if (proc.stderr.readableEnded) return done({ code, stderr });
      const t = setTimeout(() => done({ code, stderr }), 1000);
      proc.stderr.once('end', () => {
        clearTimeout(t);
        done({ code, stderr });
      });
    });
  });
}

export interface SshSession {
  /** The target with the session's control path: pass it to sshRun/sshSpawn. */
  target: SshTarget;
  /** Ends the master (`ssh -O exit`) and removes its private directory. Idempotent. */
  close(): Promise<void>;
}

/**
 * Opens one authenticated connection (an OpenSSH master) whose control socket lives in a fresh
 * 0700 directory of the workstation's temp dir. Host-key checking, the user's ssh_config and
 * METIS_SSH_CONFIG apply to it exactly as to a single command. Throws the same typed SshErrors.
 */
export async function openSshSession(target: SshTarget, opts: SshOptions & { signal?: AbortSignal } = {}): Promise<SshSession> {
  const env = opts.env ?? process.env;
  const name = formatSshTarget(target);
  if (opts.signal?.aborted) throw new SshError('E_SSH_ABORTED', name, `${name}: aborted`);
  // A unix socket path has ~104 usable bytes: fall back to /tmp when TMPDIR is deep.
  const tmp = env.TMPDIR || tmpdir();
  const base = tmp.length > 60 ? '/tmp' : tmp;
  const dir = await mkdtemp(join(base, 'metis-ssh-'));
  const controlPath = join(dir, 'cm');
  const master = sshMasterCommand(target, controlPath, opts);
  const r = await runSsh(master.file, master.args, env, ((opts.connectTimeoutSec ?? 10) + 50) * 1000, opts.signal);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    const { file } = master;
    await runSsh(file, [...baseArgs(opts), '-o', `ControlPath=${controlPath}`, '-O', 'exit', ...targetArgs(target)], env, 10_000);
    await rm(dir, { recursive: true, force: true });
  };
  if (r.code !== 0) {
    await rm(dir, { recursive: true, force: true });
    if (r.spawnError) throw new SshError('E_SSH', name, `cannot run ${master.file}: ${r.spawnError.message} (install openssh-client, or fix METIS_SSH)`, '', r.spawnError);
    if (opts.signal?.aborted) throw new SshError('E_SSH_ABORTED', name, `${name}: aborted`, r.stderr);
    throw classifySshFailure(name, 255, r.stderr) ?? new SshError('E_SSH', name, `${name}: ssh failed (exit ${r.code})`, r.stderr);
  }
  return { target: { ...target, mux: controlPath }, close };
}

/** One operation over one connection: `fn` gets the session's target; the master is closed in finally. */
export async function withSshSession<T>(target: SshTarget, opts: SshOptions & { signal?: AbortSignal }, fn: (target: SshTarget) => Promise<T>): Promise<T> {
  const session = await openSshSession(target, opts);
  try {
    return await fn(session.target);
  } finally {
    await session.close();
  }
}

/**
 * ssh exits 255 for its own failures; the stderr line says which. A remote command that itself
 * exits 255 with such a line is indistinguishable, so only these exact phrases classify.
 */
export function classifySshFailure(target: string, exitCode: number | null, stderr: string): SshError | null {
  if (exitCode !== 255) return null;
  const line = stderr.trim().split('\n').filter(Boolean).slice(-3).join(' ') || 'ssh failed';
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed|No \S+ host key is known|host key for .* has changed/i.test(stderr)) {
    return new SshError('E_SSH_HOST_KEY', target, `${target}: host key verification failed: the host's key is not the one in known_hosts (check it; metis never skips host-key checking): ${line}`, stderr);
  }
  if (/Permission denied \(|Too many authentication failures|no more authentication methods/i.test(stderr)) {
    return new SshError('E_SSH_AUTH', target, `${target}: SSH authentication failed (key not accepted; check the user, ssh-agent and IdentityFile): ${line}`, stderr);
  }
  if (/Connection timed out|Operation timed out|timed out during banner/i.test(stderr)) {
    return new SshError('E_SSH_UNREACHABLE', target, `${target}: unreachable: connection timed out: ${line}`, stderr);
  }
  if (/Connection refused|No route to host|Network is unreachable|Could not resolve hostname|Name or service not known|Connection reset|Connection closed by|kex_exchange_identification|connect to host/i.test(stderr)) {
    return new SshError('E_SSH_UNREACHABLE', target, `${target}: unreachable: ${line}`, stderr);
  }
  return new SshError('E_SSH', target, `${target}: ssh failed (exit 255): ${line}`, stderr);
}

export interface SshRunOptions extends SshOptions {
  /** Written to the remote command's stdin, then closed: where secrets go. */
  input?: string | Buffer;
  /** Kill ssh after this many ms (E_SSH_TIMEOUT). Default: none. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface SshResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/**
 * Runs a remote argv and collects its output. ssh's own failures (exit 255 with its message)
 * throw typed SshErrors; the remote command's non-zero exit is returned, not thrown.
 */
export async function sshRun(target: SshTarget, argv: readonly string[], opts: SshRunOptions = {}): Promise<SshResult> {
  const name = formatSshTarget(target);
  const proc = sshSpawn(target, argv, opts);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  proc.stdout.on('data', (b: Buffer) => out.push(b));
  proc.stderr.on('data', (b: Buffer) => err.push(b));
  proc.stdin.on('error', () => {});
  proc.stdin.end(opts.input ?? '');
  let timedOut = false;
  const timer = opts.timeoutMs ? setTimeout(() => { timedOut = true; proc.kill('SIGTERM'); }, opts.timeoutMs) : null;
  try {
    const exitCode = await proc.exited;
    const stderr = Buffer.concat(err).toString('utf8');
    const spawnError = (proc as { spawnError?: unknown }).spawnError;
    if (spawnError) throw new SshError('E_SSH', name, `cannot run ${proc.spawnfile}: ${(spawnError as Error).message} (install openssh-client, or fix METIS_SSH)`, '', spawnError);
    if (timedOut) throw new SshError('E_SSH_TIMEOUT', name, `${name}: ${argv[0]} did not finish within ${Math.round(opts.timeoutMs! / 1000)} s`, stderr);
    if (opts.signal?.aborted) throw new SshError('E_SSH_ABORTED', name, `${name}: aborted`, stderr);
    const failure = classifySshFailure(name, exitCode, stderr);
    if (failure) throw failure;
    return { stdout: Buffer.concat(out).toString('utf8'), stderr, exitCode: exitCode ?? 128 };
  } finally {
    if (timer) clearTimeout(timer);
  }
}

export type SshProcess = ChildProcessByStdio<Writable, Readable, Readable> & {
  /** Resolves with ssh's exit code (null when killed by a signal); never rejects. */
  exited: Promise<number | null>;
  /** The human form of the target, for messages. */
  targetName: string;
};

/**
 * The streaming variant: stdin/stdout/stderr are raw pipes. Aborting the signal kills the local
 * ssh; the remote side sees its channel close (stdin EOF, then SIGHUP/SIGPIPE) and must stop.
 */
export function sshSpawn(target: SshTarget, argv: readonly string[], opts: SshOptions & { signal?: AbortSignal } = {}): SshProcess {
  const { file, args } = sshCommand(target, argv, opts);
  const proc = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env }) as SshProcess;
  proc.targetName = formatSshTarget(target);
  proc.exited = new Promise((resolve) => {
    let spawnError = false;
    proc.once('error', (e) => {
      spawnError = true;
      (proc as { spawnError?: unknown }).spawnError = e;
      resolve(255);
    });
    proc.once('close', (code) => {
      if (!spawnError) resolve(code);
    });
  });
  if (opts.signal) {
    const kill = () => proc.kill('SIGTERM');
    if (opts.signal.aborted) kill();
    else {
      opts.signal.addEventListener('abort', kill, { once: true });
      void proc.exited.then(() => opts.signal!.removeEventListener('abort', kill));
    }
  }
  return proc;
}
