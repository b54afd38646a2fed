import { spawnSync } from 'node:child_process';

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
  spawnSync('pkill', ['-TERM', '-P', String(process.pid)]);
  for (let i = 0; i < 50; i++) {
    if (spawnSync('pgrep', ['-P', String(process.pid)]).status !== 0) return;
    spawnSync('sleep', ['0.1']);
  }
  spawnSync('pkill', ['-KILL', '-P', String(process.pid)]);
}

/**
 * While `body` runs, SIGINT/SIGTERM stop the children, run the cleanups and exit 130/143 (a second
 * signal meanwhile is ignored: the cleanup is short and bounded).
 */
export async function withInterrupts<T>(cleanups: Cleanups, say: (line: string) => void, body: () => Promise<T>): Promise<T> {
  let busy = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (busy) return;
    busy = true;
    stopChildren();
    const done = cleanups.runAll();
    say(`interrupted (${sig}): stopped; cleaned up ${done.length ? done.join(', ') : 'nothing pending'}`);
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await body();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
