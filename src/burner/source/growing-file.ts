import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';

/**
 * A file still being downloaded, read by the burn while it grows: readers see only bytes already
 * written to it (`grew` is called after each write returned) and wait for more until `end`. The
 * file keeps its path (a cache temp file) until the reader side is done with it.
 */
export class GrowingFile {
  private size = 0;
  private ended = false;
  private failure: unknown = null;
  private waiters: Array<() => void> = [];
  private settle!: { resolve: () => void; reject: (e: unknown) => void };
  /** Resolves when the download ended whole, rejects with its error. */
  readonly complete: Promise<void>;

  constructor(readonly path: string) {
    this.complete = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    this.complete.catch(() => {});
  }

  get bytes(): number {
    return this.size;
  }

  /** The download's error, once it failed. */
  get failed(): unknown {
    return this.failure;
  }

  grew(n: number): void {
    this.size += n;
    this.wake();
  }

  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    if (error !== undefined) {
      this.failure = error;
      this.settle.reject(error);
    } else this.settle.resolve();
    this.wake();
  }

  /** Waits until `n` bytes are in the file or the download ended (then fewer may be there). */
  async until(n: number): Promise<void> {
    while (this.size < n && !this.ended) await new Promise<void>((r) => this.waiters.push(r));
  }

  /**
   * The file's bytes from the start, as they arrive; ends when the download ended (whole or not:
   * the consumer asks `complete` whether it was whole). Never errors for the download's sake, so a
   * decompressor fed from it always sees an end.
   */
  stream(highWaterMark = 1 << 20): Readable {
    const self = this;
    async function* bytes(): AsyncGenerator<Buffer> {
      const fh = await open(self.path, 'r');
      try {
        let pos = 0;
        for (;;) {
          if (pos < self.size) {
            const buf = Buffer.allocUnsafe(Math.min(highWaterMark, self.size - pos));
            const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
            if (bytesRead === 0) throw new Error(`${self.path}: shorter than the ${self.size} bytes written to it`);
            pos += bytesRead;
            yield buf.subarray(0, bytesRead);
          } else if (self.ended) return;
          else await new Promise<void>((r) => self.waiters.push(r));
        }
      } finally {
        await fh.close();
      }
    }
    return Readable.from(bytes(), { objectMode: false });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
