import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Readable } from 'node:stream';
import { MetisError } from '../lib/errors.js';

/**
 * The one way the operator side starts a process: argv only (never a shell string), stdin is
 * /dev/null unless `input` is given (a child never reads the operator's terminal), output captured.
 */
export type Log = (line: string) => void;

export interface ExecOptions {
  input?: string;
  /** Added to this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** The child's whole environment instead (nothing inherited). */
  fullEnv?: NodeJS.ProcessEnv;
  /** Milliseconds; the child is killed (SIGTERM) after it. */
  timeout?: number;
  /** Capture limit per stream (bytes). */
  maxBuffer?: number;
  /** Open file descriptors handed to the child as its fd 3, 4, … (e.g. a lock file for flock(1)). */
  fds?: number[];
}

export interface ExecResult {
  exitCode: number;
  /** Set when the child was killed by a signal (or by the timeout). */
  signal?: string;
  timedOut: boolean;
  /** errno code when the program could not be started (ENOENT, EACCES). */
  spawnError?: string;
  stdout: string;
  stderr: string;
}

const base = (o: ExecOptions) => ({
  reject: false as const,
  input: o.input,
  // execa's types miss plain descriptor numbers among the extra fds; it passes them to spawn as is.
  stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe', ...(o.fds ?? [])] as unknown as readonly ['ignore', 'pipe', 'pipe'],
  env: o.fullEnv ?? o.env,
  extendEnv: !o.fullEnv,
  timeout: o.timeout,
  maxBuffer: o.maxBuffer ?? 64 << 20,
  stripFinalNewline: true,
});

/**
 * Runs to completion and reports; never throws for a failing child (a missing program is exit 127).
 * execa is loaded on the first call, not with this module: setting it up costs a burn ~8 ms before
 * its first write, where nothing runs through it (the claim's flock(1) and the decompressors use
 * node's child_process; see claim.ts and spawnStream).
 */
export async function exec(cmd: string, args: string[], o: ExecOptions = {}): Promise<ExecResult> {
  const { execa } = await import('execa');
  const r = await execa(cmd, args, base(o));
  return shape(r);
}

/** Synchronous variant, for cleanups that must finish before anything else runs (node's spawnSync, same result shape as exec). */
export function execSync(cmd: string, args: string[], o: ExecOptions = {}): ExecResult {
  const r = spawnSync(cmd, args, {
    input: o.input,
    stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe', ...(o.fds ?? [])],
    env: o.fullEnv ?? { ...process.env, ...o.env },
    timeout: o.timeout,
    maxBuffer: o.maxBuffer ?? 64 << 20,
    encoding: 'utf8',
  });
  const code = (r.error as NodeJS.ErrnoException | undefined)?.code;
  const strip = (t: string | null) => (t ?? '').replace(/\r?\n$/, '');
  const spawnFailed = r.status === null && !r.signal;
  return {
    exitCode: r.status ?? (spawnFailed ? 127 : 128),
    signal: r.signal ?? undefined,
    timedOut: code === 'ETIMEDOUT',
    spawnError: spawnFailed ? (code ?? 'error') : undefined,
    stdout: strip(r.stdout),
    stderr: strip(r.stderr) || (spawnFailed ? String(r.error?.message ?? '') : ''),
  };
}

function shape(r: { exitCode?: number; signal?: string; timedOut?: boolean; stdout?: unknown; stderr?: unknown; code?: string; failed?: boolean; message?: string }): ExecResult {
  const spawnFailed = r.exitCode === undefined && !r.signal;
  return {
    exitCode: r.exitCode ?? (spawnFailed ? 127 : 128),
    signal: r.signal ?? undefined,
    timedOut: Boolean(r.timedOut),
    spawnError: spawnFailed ? (r.code ?? 'error') : undefined,
    stdout: String(r.stdout ?? ''),
    stderr: String(r.stderr ?? '') || (spawnFailed ? String(r.message ?? '') : ''),
  };
}

/** Runs one host tool and returns its stdout; a failure names the tool and its stderr tail. */
export async function run(log: Log, cmd: string, args: string[], opts: ExecOptions & { code?: string } = {}): Promise<string> {
  log(`$ ${cmd} ${args.join(' ')}`);
  const r = await exec(cmd, args, opts);
  if (r.exitCode !== 0) {
    const tail = (r.stderr || r.stdout).split('\n').slice(-8).join('\n');
    throw new MetisError(opts.code ?? 'E_TOOL', `${cmd} failed (exit ${r.signal ?? r.exitCode}):\n${tail}`);
  }
  return r.stdout;
}

/**
 * A long-running child whose stdout is read as a stream (decompressors). `input`, when given, is
 * piped to its stdin; a child that stops early closes it, and that EPIPE is not news.
 */
export function spawnStream(cmd: string, args: string[], input?: Readable): { stdout: Readable; stderr: Readable; done: Promise<void>; kill: () => void } {
  const proc = spawn(cmd, args, { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  if (input) {
    proc.stdin!.on('error', () => {});
    input.pipe(proc.stdin!);
  }
  // Rejects as a failed child does: with its signal (a reader that stopped early gives SIGPIPE), exit code, or spawn error.
  const done = new Promise<void>((resolve, reject) => {
    proc.once('error', (e: NodeJS.ErrnoException) => reject(Object.assign(new Error(`${cmd} could not be started: ${e.code ?? e.message}`), { code: e.code })));
    proc.once('close', (exitCode: number | null, signal: NodeJS.Signals | null) => {
      if (exitCode === 0) resolve();
      else reject(Object.assign(new Error(`${cmd} ${signal ? `was killed by ${signal}` : `failed with exit code ${exitCode}`}`), { exitCode: exitCode ?? undefined, signal: signal ?? undefined }));
    });
  });
  return { stdout: proc.stdout!, stderr: proc.stderr!, done, kill: () => proc.kill() };
}

/** Whether an executable of that name is on PATH (what `command -v` answers, without a shell). */
export function onPath(tool: string, env: NodeJS.ProcessEnv = process.env): boolean {
  for (const dir of (env['PATH'] ?? '').split(delimiter).filter(Boolean)) {
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      // next directory
    }
  }
  return false;
}
