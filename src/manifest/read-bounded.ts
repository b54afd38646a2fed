import { open } from 'node:fs/promises';

/**
 * Reads at most `max` bytes of a file (a device such as /dev/zero included) and says whether there
 * was more: a file that is too large is refused without reading it whole.
 */
export async function readBounded(file: string, max: number): Promise<{ data: Buffer; truncated: boolean }> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(max + 1);
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, null);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return { data: buf.subarray(0, Math.min(got, max)), truncated: got > max };
  } finally {
    await fh.close();
  }
}
