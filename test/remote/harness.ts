import { spawn, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';

export const REPO = new URL('../../', import.meta.url).pathname;
export const METIS = `${REPO}dist/metis.js`;
export const SSH_WRAPPER = `${REPO}test/remote/fixtures/ssh-counting.py`;

export interface Ran {
  code: number | null;
  out: string;
  err: string;
}

/**
 * Runs the built CLI as its own process (as an operator would). `pty`: under `script`, so the CLI
 * has a terminal; `onOutput` sees everything printed and may type into the terminal.
 */
export function runMetis(
  args: string[],
  opts: { env: NodeJS.ProcessEnv; pty?: boolean; onOutput?: (all: string, type: (s: string) => void, pid: number) => void; timeoutMs?: number },
): Promise<Ran> & { pid: number } {
  const cmd = ['node', METIS, ...args];
  const quoted = cmd.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = opts.pty
    ? spawn('script', ['-qefc', quoted, '/dev/null'], { env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn(cmd[0]!, cmd.slice(1), { env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const type = (s: string) => child.stdin.write(s);
  const seen = () => opts.onOutput?.(out + err, type, child.pid!);
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
    seen();
  });
  child.stderr.on('data', (b: Buffer) => {
    err += b.toString();
    seen();
  });
  if (!opts.pty) child.stdin.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
  const p = new Promise<Ran>((resolve) => {
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      resolve({ code: code ?? (sig ? 128 : null), out, err });
    });
  }) as Promise<Ran> & { pid: number };
  p.pid = child.pid!;
  return p;
}

export interface SshLogLine {
  argv: string[];
  sent: number;
  exit: number;
}

export function sshLog(path: string): SshLogLine[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as SshLogLine);
}

/** sha256 of a device's or file's first MiB. */
export function firstMiB(path: string): string {
  return createHash('sha256').update(execFileSync('dd', [`if=${path}`, 'bs=1M', 'count=1', 'status=none', 'iflag=direct'])).digest('hex');
}

/** Files under `dirs` (one filesystem each, devices skipped) whose bytes contain `needle`. */
export function filesContaining(needle: string, dirs: string[]): string[] {
  const present = dirs.filter((d) => existsSync(d));
  if (!present.length) return [];
  try {
    return execFileSync('grep', ['-rlsF', '--devices=skip', '--', needle, ...present], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch (e) {
    if ((e as { status?: number }).status === 1) return [];
    throw e;
  }
}
