import { constants } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { BurnAbortedError } from '../burner/write/errors.js';
import type { Follow } from '../burner/write/hashing-reader.js';
import { GrowingFile } from '../burner/source/growing-file.js';
import { SourceError } from '../core/source-errors.js';

export interface PolledFileOptions {
  /** The size the file has when whole (the bytes the workstation sends, decompressed by the receive when gzipped). */
  size: number;
  /** Where the writer renames the file once it judged it whole and right (the cache's blob for its digest). */
  committedAt: string;
  /** Ends every wait: the burn was aborted (the workstation's abort, its silence, a signal). */
  signal: AbortSignal;
  /** Called once, before any reader hears of it, when the writer removed the file instead of committing it. */
  onLost?: (e: SourceError) => void;
  pollMs?: number;
}

/**
 * A file another process writes (the image a `burn-agent receive` stores as the SSH user, read by
 * the burn agent under sudo): a GrowingFile (the in-process follower a cold registry pull uses)
 * told of growth by polling fstat, since the writer is another process. The writer writes in increasing offset order and only grows the file, so every
 * byte below its size is final. Opened once: `path` is /proc/self/fd/N, which still names the
 * same inode after the writer renames it into the cache. Whole only when it holds `size` bytes
 * AND the writer committed it (renamed it to `committedAt`, its digest matched); lost when the
 * writer removed it instead (a failed receive), so the burn never reaches its gate with bytes
 * the receive refused, and stops as an abort does (the card's first MiB untouched).
 */
export class PolledFile implements Follow {
  static async open(path: string, o: PolledFileOptions): Promise<PolledFile> {
    // O_NOFOLLOW: this name, not where a link put there points; O_NONBLOCK: a FIFO there cannot hang the open.
    const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const st = await fh.stat().catch(async (e: unknown) => {
      await fh.close();
      throw e;
    });
    if (!st.isFile()) {
      await fh.close();
      throw new SourceError('E_IMAGE_MISSING', `${path}: not a regular file`);
    }
    return new PolledFile(fh, o);
  }

  readonly path: string;
  /** Resolves when the file is whole and committed; rejects when it was lost or the burn stopped. */
  readonly complete: Promise<void>;
  /** What readers see: grown by the poll, ended whole, lost or stopped. */
  private readonly file: GrowingFile;
  private polling = true;
  private lostError: SourceError | null = null;
  private nap: { timer: NodeJS.Timeout; wake: () => void } | null = null;
  private readonly onAbort = () => this.end(new BurnAbortedError());

  private constructor(
    private readonly fh: FileHandle,
    private readonly o: PolledFileOptions,
  ) {
    this.path = `/proc/self/fd/${fh.fd}`;
    this.file = new GrowingFile(this.path);
    this.complete = this.file.complete;
    if (o.signal.aborted) this.onAbort();
    else {
      o.signal.addEventListener('abort', this.onAbort, { once: true });
      void this.poll();
    }
  }

  /** Bytes readable now (at most `size`). */
  get bytes(): number {
    return this.file.bytes;
  }

  get failed(): unknown {
    return this.file.failed;
  }

  /** The writer's failure (the file removed before it was committed), once seen. */
  get lost(): SourceError | null {
    return this.lostError;
  }

  /** Waits until `n` bytes (at most `size`) are readable, or the file will not grow any more. */
  until(n: number): Promise<void> {
    return this.file.until(Math.min(n, this.o.size));
  }

  /** The bytes from the start, as they arrive, `size` at most; ends when the file is whole, lost or the burn stopped. */
  stream(highWaterMark = 1 << 20): ReturnType<GrowingFile['stream']> {
    return this.file.stream(highWaterMark);
  }

  /** Stops polling and closes the file: only once every reader is done with it (the name /proc/self/fd/N dies with it). */
  async close(): Promise<void> {
    this.end(new BurnAbortedError());
    await this.fh.close();
  }

  /** One fstat each `pollMs` (default 25 ms) until whole, lost, stopped or closed: bounded by the burn's signal. */
  private async poll(): Promise<void> {
    while (this.polling) {
      const st = await this.fh.stat().catch(() => null);
      if (!this.polling) return;
      if (!st) return this.end(new SourceError('E_IMAGE_MISSING', `${this.path}: the image being received can no longer be read`));
      const size = Math.min(st.size, this.o.size);
      if (size > this.file.bytes) this.file.grew(size - this.file.bytes);
      if (st.nlink === 0) return this.lose();
      if (st.size >= this.o.size) {
        const at = await stat(this.o.committedAt).catch(() => null);
        if (!this.polling) return;
        if (at && at.ino === st.ino && at.dev === st.dev) return this.end();
      }
      await new Promise<void>((wake) => (this.nap = { timer: setTimeout(wake, this.o.pollMs ?? 25), wake }));
      this.nap = null;
    }
  }

  private lose(): void {
    const e = new SourceError('E_IMAGE_MISSING', 'the image being received on this host was removed before it was whole: its transfer failed (the workstation names why)');
    this.lostError = e;
    // Before any reader wakes: the burn's signal is aborted by the time it sees the loss (and that
    // abort, when onLost raises it on our own signal, must not be taken for the reason).
    this.o.signal.removeEventListener('abort', this.onAbort);
    this.o.onLost?.(e);
    this.end(e);
  }

  /** Whole (no error), or lost or stopped: the first call decides; later ones only stop the poll. */
  private end(error?: unknown): void {
    if (!this.polling) return;
    this.polling = false;
    this.o.signal.removeEventListener('abort', this.onAbort);
    if (this.nap) {
      clearTimeout(this.nap.timer);
      this.nap.wake();
    }
    this.file.end(error);
  }
}
