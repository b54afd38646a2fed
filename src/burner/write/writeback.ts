import type { FileHandle } from 'node:fs/promises';

/** Bytes written between two flushes of a card: large enough to batch, small next to a page cache. */
const EVERY = 32 * 1024 * 1024;

export interface PacedWriter {
  write(buf: Buffer, offset: number, length: number, position: number): Promise<unknown>;
  /** Waits for the flush in flight; call before the final fsync and before closing. */
  drain(): Promise<void>;
}

/** Told which writes a flush covered: those recorded (`mark`) before it started are on the device when it returns. */
export interface Durable {
  mark(): number;
  settle(mark: number): void;
}

/**
 * Buffered writes to a card otherwise pile up in the page cache and only start draining at the
 * final fsync, so reading and hashing the image happen before the card writes instead of alongside
 * it. With one fdatasync always in flight (a new one every EVERY bytes, after the previous ended)
 * the card writes continuously and at most about 2 × EVERY bytes wait in memory. `durable` learns
 * after each flush which writes reached the device (the overlapped read-back starts on them).
 */
export function pacedWriter(fh: FileHandle, isBlock: boolean, durable?: Durable): PacedWriter {
  let since = 0;
  let inflight: Promise<void> | null = null;
  return {
    async write(buf, offset, length, position) {
      const r = await fh.write(buf, offset, length, position);
      if (!isBlock) return r;
      since += length;
      if (since >= EVERY) {
        since = 0;
        if (inflight) await inflight;
        const mark = durable?.mark();
        inflight = fh.datasync().then(() => {
          if (mark !== undefined) durable?.settle(mark);
        });
        // Observed now: an abort may leave it unawaited until drain().
        inflight.catch(() => {});
      }
      return r;
    },
    async drain() {
      const p = inflight;
      inflight = null;
      if (p) await p;
    },
  };
}
