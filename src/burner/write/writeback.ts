import type { FileHandle } from 'node:fs/promises';
import type { CacheEvictor } from './page-cache.js';

/** Most bytes that wait in memory for a flush already in flight: a full backlog waits for it. */
const EVERY = 32 * 1024 * 1024;
/** Least bytes a new flush covers when none is in flight (the first one starts after the first write of this size). */
const MIN = 4 * 1024 * 1024;
/**
 * The same for an image file: there, too, the written bytes are flushed beside the burn rather than
 * all by the final fsync after the last byte (a 1 GiB `.xz` burn's 285 MiB took that fsync 0.21 s
 * on the bench machine; 14 ms with flushes along the way) — in fewer, larger flushes, since each
 * is also a journal commit of the file system holding the image.
 */
const FILE_MIN = 32 * 1024 * 1024;
/**
 * With a read-back (`durable`), the last TAIL bytes go in batches of SMALL: what the last flush
 * covered is read back after the write, so its size is the verified burn's tail (32 MiB at 90 MB/s
 * is ~0.4 s; 8 MiB ~0.1 s). Not throughout: every flush is also a cache flush of the card (and of a
 * loop device's backing file), and 8 MiB batches all along made the write itself ~3 % slower.
 */
const TAIL = 48 * 1024 * 1024;
const SMALL = 8 * 1024 * 1024;
/**
 * No page-cache drop once fewer bytes than this are left to write (when the total is known): a drop
 * that near the end made `bench:burn`'s raw burn ≈ 10 ms slower from its first write to its exit
 * (the close it spares is ≈ 9 ms), in 12 rounds alternating with the bundle without drops
 * (docs/writing.md). During the bulk of a larger image the card's pace hides it.
 */
const EVICT_TAIL = 64 * 1024 * 1024;

export interface PacedWriter {
  write(buf: Buffer, offset: number, length: number, position: number): Promise<unknown>;
  /** Waits for the flush in flight and any page-cache drop running; call before the final fsync and before closing. */
  drain(): Promise<void>;
  /** The bytes the whole burn will write, when known (a block map): the read-back's tail is kept short. */
  expect(total: number): void;
  /** A batch of writes is done: starts a flush if none is in flight and anything waits, whatever its size (the card is idle otherwise). */
  kick(): void;
}

/** Told which writes a flush covered: those recorded (`mark`) before it started are on the device when it returns. */
export interface Durable {
  mark(): number;
  settle(mark: number): void;
}

/**
 * Buffered writes to a card otherwise pile up in the page cache and only start draining at the
 * final fsync (or when the kernel's dirty thresholds say so), so the card sits idle while the image
 * is read and hashed. Here a flush (fdatasync) is started as soon as MIN bytes wait and none is in
 * flight, so the card starts writing within the first MIN bytes and then never idles while written
 * bytes wait; when EVERY bytes wait behind the flush in flight, the writer waits for it (at most
 * about EVERY + MIN bytes in memory). `durable` learns after each flush which writes reached the
 * device (the overlapped read-back starts on them). `evictor` learns how many bytes each flush put
 * on the card while more than EVICT_TAIL are left, and drops them from the page cache beside the
 * burn (page-cache.ts), so the close finds at most the last ~320 MiB's pages, not the whole image's.
 * An image file is paced the same way with FILE_MIN for MIN (`kick` is a card's alone).
 */
export function pacedWriter(fh: FileHandle, isBlock: boolean, durable?: Durable, evictor?: CacheEvictor): PacedWriter {
  let since = 0;
  let written = 0;
  let total = 0;
  let inflight: Promise<void> | null = null;
  const flush = () => {
    const covered = since;
    const far = total === 0 || total - written >= EVICT_TAIL;
    since = 0;
    const mark = durable?.mark();
    const p: Promise<void> = fh.datasync().then(() => {
      if (mark !== undefined) durable?.settle(mark);
      if (far) evictor?.settled(covered);
      if (inflight === p) inflight = null;
    });
    // Observed now: an abort may leave it unawaited until drain().
    p.catch(() => {});
    inflight = p;
  };
  return {
    async write(buf, offset, length, position) {
      const r = await fh.write(buf, offset, length, position);
      since += length;
      written += length;
      // The short read-back tail is a card's: an image file is read back from the page cache.
      const every = isBlock && durable && total > 0 && total - written < TAIL ? SMALL : EVERY;
      if (inflight && since >= every) await inflight;
      if (!inflight && since >= (isBlock ? MIN : FILE_MIN)) flush();
      return r;
    },
    expect(n) {
      total = n;
    },
    kick() {
      if (isBlock && !inflight && since > 0) flush();
    },
    async drain() {
      const p = inflight;
      inflight = null;
      try {
        if (p) await p;
      } finally {
        await evictor?.idle();
      }
    },
  };
}
