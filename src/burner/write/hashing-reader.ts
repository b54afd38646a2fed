import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';

/** A file still arriving (a download the burn reads as it grows; see source/growing-file.ts). */
export interface Follow {
  until(n: number): Promise<void>;
  stream(): Readable;
  /** Resolves when the file is whole, rejects with the download's error. */
  complete: Promise<void>;
  /** The download's error, once it failed. */
  readonly failed: unknown;
}

export interface HashingReader {
  /** The file's bytes, each hashed (and observed) on its way through. */
  stream: Readable;
  /** Stops reading and hashes whatever the consumer left unread: the digest covers the whole file. */
  finish(): Promise<{ sha256: string; bytes: number }>;
}

/** Reads a file once for a consumer (a decompressor) and hashes exactly the bytes it hands on. */
export function hashingReader(path: string, observe?: (b: Buffer) => void, follow?: Follow): HashingReader {
  const hash = createHash('sha256');
  let bytes = 0;
  const take = (b: Buffer) => {
    hash.update(b);
    observe?.(b);
    bytes += b.length;
  };
  const file = follow ? follow.stream() : createReadStream(path, { highWaterMark: 1 << 20 });
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      take(chunk);
      cb(null, chunk);
    },
  });
  file.on('error', (e: Error) => tap.destroy(e));
  file.pipe(tap);
  return {
    stream: tap,
    async finish() {
      file.unpipe(tap);
      file.destroy();
      // A file still arriving is hashed to its end only once it is whole (or the download's error is thrown).
      if (follow) await follow.complete;
      const fh = await open(path, 'r');
      try {
        const buf = Buffer.allocUnsafe(1 << 20);
        for (;;) {
          const { bytesRead } = await fh.read(buf, 0, buf.length, bytes);
          if (bytesRead === 0) break;
          take(buf.subarray(0, bytesRead));
        }
      } finally {
        await fh.close();
      }
      return { sha256: hash.digest('hex'), bytes };
    },
  };
}
