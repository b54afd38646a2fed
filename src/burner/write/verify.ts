import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { VerifyError } from './errors.js';

/** A range as written: where, how long, and the sha256 of the bytes that went in. */
export interface Written {
  offset: number;
  length: number;
  sha256: string;
}

/** Reads bytes back from the target; the view may be reused by the next read. */
export interface RangeReader {
  read(offset: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

/** Contiguous ranges (a stream records one per 64 KiB chunk) are read back in reads of up to this. */
export const VERIFY_BATCH = 4 * 1024 * 1024;
/**
 * Durable but not yet read back: above this the writer waits for the verifier. On a card the read
 * (≈ 3× the write speed) keeps up and the writer never waits; the bound only keeps the list of
 * pending ranges and the time between a bad write and its discovery small where it would not.
 */
export const VERIFY_LAG = 64 * 1024 * 1024;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** An image-file target, read back through a plain descriptor of its own. */
export async function fileRangeReader(path: string): Promise<RangeReader> {
  const fh: FileHandle = await open(path, 'r');
  const buf = Buffer.allocUnsafe(VERIFY_BATCH);
  return {
    async read(offset, length) {
      const b = length <= buf.length ? buf : Buffer.allocUnsafe(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(b, got, length - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return b.subarray(0, got);
    },
    close: () => fh.close(),
  };
}

/**
 * Reads written ranges back while the burn goes on. A range is `add`ed when written and becomes
 * readable only when `settle`d — on a card, once an fdatasync that started after its write has
 * returned (the bytes are on the device, not only in the page cache) — and is then read back and
 * compared by one loop, one read at a time, beside the writer. The first mismatch (or read error)
 * is kept: `check` throws it into the writer, `finish` throws it at the end.
 */
export class RangeVerifier {
  private readonly pending: Written[] = [];
  private readonly ready: Written[] = [];
  private added = 0;
  private settledCount = 0;
  private readyBytes = 0;
  private running: Promise<void> | null = null;
  private waiters: Array<() => void> = [];
  failure: unknown = null;
  verifiedBytes = 0;

  constructor(
    private readonly reader: RangeReader,
    private readonly onVerified?: (bytes: number) => void,
  ) {}

  add(w: Written): void {
    this.pending.push(w);
    this.added++;
  }

  /** How many ranges were added so far: pass it to `settle` when a flush started now has returned. */
  mark(): number {
    return this.added;
  }

  /** The first `upTo` ranges added are on the device: read them back. */
  settle(upTo = this.added): void {
    while (this.settledCount < upTo && this.pending.length) {
      const w = this.pending.shift()!;
      this.ready.push(w);
      this.readyBytes += w.length;
      this.settledCount++;
    }
    this.kick();
  }

  /** Throws the mismatch (or read error) found so far, if any. */
  check(): void {
    if (this.failure) throw this.failure;
  }

  /** Waits while more than `limit` durable bytes wait to be read back; then `check`s. */
  async room(limit = VERIFY_LAG): Promise<void> {
    while (this.readyBytes > limit && !this.failure) await new Promise<void>((r) => this.waiters.push(r));
    this.check();
  }

  /** Settles and reads back everything added; throws the first mismatch. */
  async finish(): Promise<void> {
    this.settle();
    while (this.running) await this.running;
    this.check();
  }

  async close(): Promise<void> {
    this.failure ??= new Error('verifier closed');
    while (this.running) await this.running.catch(() => {});
    await this.reader.close();
  }

  private kick(): void {
    if (this.running || this.failure || !this.ready.length) return;
    this.running = this.loop().finally(() => {
      this.running = null;
      this.wake();
      this.kick();
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private async loop(): Promise<void> {
    while (this.ready.length && !this.failure) {
      const batch = takeBatch(this.ready, VERIFY_BATCH);
      try {
        const data = await this.reader.read(batch[0]!.offset, batch.reduce((a, w) => a + w.length, 0));
        for (const w of batch) {
          const actual = sha(data.subarray(w.offset - batch[0]!.offset, w.offset - batch[0]!.offset + w.length));
          if (actual !== w.sha256) throw new VerifyError(w.offset, w.length, w.sha256, actual);
          this.verifiedBytes += w.length;
          this.readyBytes -= w.length;
        }
      } catch (e) {
        this.failure = e;
        break;
      }
      this.onVerified?.(this.verifiedBytes);
      this.wake();
    }
  }
}

/** Removes and returns the leading ranges that follow each other directly, up to `limit` bytes (a longer range alone). */
function takeBatch(ready: Written[], limit: number): Written[] {
  const first = ready.shift()!;
  const out = [first];
  let end = first.offset + first.length;
  let len = first.length;
  while (ready.length && ready[0]!.offset === end && len + ready[0]!.length <= limit) {
    const w = ready.shift()!;
    out.push(w);
    end += w.length;
    len += w.length;
  }
  return out;
}

/** Groups ranges that follow each other directly, up to `limit` bytes a group (a longer range stays alone). */
export function batchRanges(ranges: Written[], limit: number): Array<{ offset: number; length: number; ranges: Written[] }> {
  const out: Array<{ offset: number; length: number; ranges: Written[] }> = [];
  const rest = [...ranges];
  while (rest.length) {
    const b = takeBatch(rest, limit);
    out.push({ offset: b[0]!.offset, length: b.reduce((a, w) => a + w.length, 0), ranges: b });
  }
  return out;
}
