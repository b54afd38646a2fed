import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { MetisError } from '../../lib/errors.js';

/** Covers every logical block size in use (512 and 4096): offsets, lengths and the buffer address. */
const ALIGN = 4096;
// malloc hands out 16-byte aligned memory, so an aligned position is found within ALIGN / 16 tries.
const STEP = 16;

/**
 * Reads a block device with O_DIRECT, so the bytes come from the device and not from the page
 * cache. O_DIRECT wants the buffer address aligned too, and node cannot ask for an aligned
 * allocation nor tell an address: the reader finds an aligned position inside one oversized
 * buffer once, by trying reads at 16-byte steps (a misaligned one fails with EINVAL).
 */
export class DirectReader {
  private constructor(
    private readonly fh: FileHandle,
    private readonly buf: Buffer,
    private readonly base: number,
    private readonly maxLength: number,
    private readonly deviceSize: number,
  ) {}

  static async open(path: string, maxLength: number, deviceSize: number): Promise<DirectReader> {
    const fh = await open(path, constants.O_RDONLY | constants.O_DIRECT);
    try {
      const buf = Buffer.allocUnsafeSlow(maxLength + 3 * ALIGN);
      for (let k = 0; k < ALIGN; k += STEP) {
        const ok = await fh.read(buf, k, ALIGN, 0).then(
          () => true,
          (e: NodeJS.ErrnoException) => {
            if (e.code === 'EINVAL') return false;
            throw e;
          },
        );
        if (ok) return new DirectReader(fh, buf, k, maxLength, deviceSize);
      }
      throw new MetisError('E_DIRECT_IO', `${path}: O_DIRECT reads fail at every buffer alignment`);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /** Exactly bytes [offset, offset+length) of the device; the view is valid until the next read. */
  async read(offset: number, length: number): Promise<Buffer> {
    if (length > this.maxLength) throw new MetisError('E_DIRECT_IO', `read of ${length} bytes exceeds the reader's ${this.maxLength}`);
    const start = Math.floor(offset / ALIGN) * ALIGN;
    const end = Math.min(Math.ceil((offset + length) / ALIGN) * ALIGN, this.deviceSize);
    let got = 0;
    // A direct read may return short at the device end; anything else short is retried.
    while (start + got < end) {
      const { bytesRead } = await this.fh.read(this.buf, this.base + got, end - start - got, start + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    const from = this.base + (offset - start);
    return this.buf.subarray(from, from + Math.max(0, Math.min(length, got - (offset - start))));
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}
