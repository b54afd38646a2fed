import { spawn } from 'node:child_process';

/** Bytes that reach the card between two drops while a burn goes on. */
const EVERY = 256 * 1024 * 1024;
/** How long one drop may take before dd is killed (it takes ~10 ms per 200 MB of cached card). */
const BOUND_MS = 10_000;

/**
 * The card's pages leave the page cache while the burn goes on, not at its end.
 *
 * Buffered writes to a block device stay in its page cache once they are on the card. The kernel
 * drops all of them at the device's last close, and the closing process waits: ≈ 5 ms per 100 MB
 * written here (≈ 10–14 ms for bench:burn's 286 MB, ≈ 150 ms for a 3 GB OS image), at the very
 * end of the burn. They also push a flashing host's useful cache out. Dropped as they settle (by
 * another process, beside the burn; writeback.ts says when), the close finds only the last ones.
 *
 * node has no posix_fadvise, so dd(1) does it: `dd iflag=nocache count=0` on the card's own
 * descriptor (given as its stdin) asks POSIX_FADV_DONTNEED for the whole device. It reads and
 * writes nothing and opens nothing; the kernel drops only clean pages (those still dirty or being
 * written stay), so this cannot change what reaches the card. A missing, failing or hung dd is
 * advice not taken: the burn goes on, and the close drops the pages as it always did.
 */
export interface CacheEvictor {
  /** `bytes` more reached the card (a flush returned): a drop starts once `every` such bytes wait and none runs. */
  settled(bytes: number): void;
  /** Resolves once no drop runs (each is bounded). Call before closing the card. */
  idle(): Promise<void>;
}

export interface EvictorOptions {
  every?: number;
  boundMs?: number;
  /** Where dd is looked up (default: this process's PATH). */
  path?: string;
}

export function cacheEvictor(fd: number, opts: EvictorOptions = {}): CacheEvictor {
  const every = opts.every ?? EVERY;
  const bound = opts.boundMs ?? BOUND_MS;
  let waiting = 0;
  let running: Promise<void> | null = null;
  // dd could not start once: it will not start later in this burn either.
  let missing = false;
  const drop = () => {
    waiting = 0;
    const p = new Promise<void>((resolve) => {
      let child: ReturnType<typeof spawn>;
      try {
        child = spawn('dd', ['iflag=nocache', 'count=0', 'status=none'], {
          stdio: [fd, 'ignore', 'ignore'],
          env: { PATH: opts.path ?? process.env.PATH ?? '/usr/bin:/bin' },
        });
      } catch {
        // Called from a flush's completion: a throw here would fail the burn for advice.
        missing = true;
        resolve();
        return;
      }
      const timer = setTimeout(() => child.kill('SIGKILL'), bound);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      child.once('error', () => {
        missing = true;
        done();
      });
      child.once('exit', done);
    });
    const r: Promise<void> = p.then(() => {
      if (running === r) running = null;
    });
    running = r;
  };
  return {
    settled(bytes) {
      waiting += bytes;
      if (!running && !missing && waiting >= every) drop();
    },
    async idle() {
      while (running) await running;
    },
  };
}
