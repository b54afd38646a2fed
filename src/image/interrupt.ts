import { execSync } from '../core/exec.js';
import { MetisError } from '../lib/errors.js';

/**
 * What an interrupted build must undo, newest first: unmount before the loop device is detached,
 * both before the work directory is removed. Each scope adds its step and drops it when it ends
 * normally (its own `finally` then did the work).
 */
export class Cleanups {
  private readonly steps: Array<{ name: string; run: () => void }> = [];

  add(name: string, run: () => void): () => void {
    const step = { name, run };
    this.steps.push(step);
    return () => {
      const i = this.steps.indexOf(step);
      if (i >= 0) this.steps.splice(i, 1);
    };
  }

  /** Runs every pending step (synchronously: the process is about to exit) and returns their names. */
  runAll(): string[] {
    const done: string[] = [];
    for (const s of this.steps.splice(0).reverse()) {
      try {
        s.run();
        done.push(s.name);
      } catch {
        // The next steps still run: a failed umount must not keep the work dir.
      }
    }
    return done;
  }
}

/** The build's child processes (cp, debootstrap, mkfs…) are stopped first, so nothing is busy. */
function stopChildren(): void {
  const me = String(process.pid);
  execSync('pkill', ['-TERM', '-P', me]);
  for (let i = 0; i < 50; i++) {
    if (execSync('pgrep', ['-P', me]).exitCode !== 0) return;
    execSync('sleep', ['0.1']);
  }
  execSync('pkill', ['-KILL', '-P', me]);
}

/** The build was stopped by a signal; the entry point exits with `exitCode` (130 for SIGINT, 143 for SIGTERM). */
export class InterruptedError extends MetisError {
  readonly exitCode: number;
  constructor(readonly signal: NodeJS.Signals, cleaned: string[]) {
    super('E_INTERRUPTED', `interrupted (${signal}): stopped; cleaned up ${cleaned.length ? cleaned.join(', ') : 'nothing pending'}`);
    this.exitCode = signal === 'SIGINT' ? 130 : 143;
  }
}

/**
 * While `body` runs, SIGINT/SIGTERM stop the children and run the cleanups; the returned promise
 * then rejects with InterruptedError at once (the body, its children gone, fails on its own time and
 * is not waited for). A second signal meanwhile is ignored: the cleanup is short and bounded.
 */
export async function withInterrupts<T>(cleanups: Cleanups, body: () => Promise<T>): Promise<T> {
  let busy = false;
  let onSignal: (sig: NodeJS.Signals) => void = () => {};
  const interrupted = new Promise<never>((_, reject) => {
    onSignal = (sig) => {
      if (busy) return;
      busy = true;
      stopChildren();
      reject(new InterruptedError(sig, cleanups.runAll()));
    };
  });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const work = body();
  // Once interrupted, the body's own failure (its children were killed) is expected and dropped.
  work.catch(() => {});
  try {
    return await Promise.race([work, interrupted]);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
