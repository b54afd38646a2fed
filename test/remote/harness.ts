import { spawn, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';

export const REPO = new URL('../../', import.meta.url).pathname;
export const METIS = `${REPO}dist/metis.js`;
export const SSH_WRAPPER = `${REPO}test/remote/fixtures/ssh-counting.py`;
export const PTY_RUN = `${REPO}test/remote/fixtures/pty-run.py`;

export interface Ran {
  code: number | null;
  out: string;
  err: string;
}

/**
 * Runs the built CLI as its own process (as an operator would). `viaPty`: on a pseudo-terminal
 * (fixtures/pty-run.py: answers the sudo prompt with $PTY_ANSWER, types Ctrl-C on
 * $PTY_INTERRUPT_ON; all output then arrives on `out`). `onOutput` sees everything printed so far.
 */
export function runMetis(
  args: string[],
  opts: { env: NodeJS.ProcessEnv; viaPty?: boolean; onOutput?: (all: string) => void; timeoutMs?: number },
): Promise<Ran> {
  const cmd = ['node', METIS, ...args];
  const child = opts.viaPty ? spawn(PTY_RUN, cmd, { env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] }) : spawn(cmd[0]!, cmd.slice(1), { env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const seen = () => opts.onOutput?.(out + err);
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
    seen();
  });
  child.stderr.on('data', (b: Buffer) => {
    err += b.toString();
    seen();
  });
  child.stdin.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 400_000);
  return new Promise<Ran>((resolve) => {
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      resolve({ code: code ?? (sig ? 128 : null), out, err });
    });
  });
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
  const direct = path.startsWith('/dev/') ? ['iflag=direct'] : [];
  return createHash('sha256').update(execFileSync('dd', [`if=${path}`, 'bs=1M', 'count=1', 'status=none', ...direct])).digest('hex');
}

/**
 * Files under `dirs` (one filesystem each, like find -xdev: a chroot's /proc mounted somewhere
 * under /tmp by another test is not read; devices and symlinks skipped) whose bytes contain `needle`.
 */
export function filesContaining(needle: string, dirs: string[]): string[] {
  const present = dirs.filter((d) => existsSync(d));
  if (!present.length) return [];
  const script = 'find "$@" -xdev -type f -print0 2>/dev/null | xargs -0 -r grep -lsF -e "$NEEDLE" --';
  try {
    return execFileSync('sh', ['-c', script, 'sh', ...present], { encoding: 'utf8', env: { ...process.env, NEEDLE: needle } }).trim().split('\n').filter(Boolean);
  } catch (e) {
    const err = e as { status?: number; stdout?: string };
    // 123: some grep found nothing, or a file was unreadable or vanished mid-scan (other tests share
    // /tmp); the matches printed still count.
    if (err.status === 123) return String(err.stdout ?? '').trim().split('\n').filter(Boolean);
    throw e;
  }
}
