import { open } from 'node:fs/promises';

/**
 * Reads at most `max` bytes of a file (a device such as /dev/zero included) and says whether there
 * was more: a file that is too large is refused without reading it whole.
 */
export async function readBounded(file: string, max: number): Promise<{ data: Buffer; truncated: boolean }> {
  const fh = await open(file, 'r');
  try {
    // Sized by the file's own length (+1 to see that it grew): a 2 KiB YAML file doesn't cost a
    // zeroed 1 MiB buffer. A device or /proc file says 0 and gets the whole bound. Only bytes read
    // are ever returned, so the buffer needs no zeroing.
    const { size } = await fh.stat();
    let buf = Buffer.allocUnsafe(size > 0 && size < max ? size + 1 : max + 1);
    let got = 0;
    for (;;) {
      if (got === buf.length) {
        if (buf.length > max) break;
        // The file grew past its stat: keep reading, up to the bound.
        const more = Buffer.allocUnsafe(Math.min(max + 1, buf.length * 2));
        buf.copy(more, 0, 0, got);
        buf = more;
      }
      const { bytesRead } = await fh.read(buf, got, buf.length - got, null);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return { data: buf.subarray(0, Math.min(got, max)), truncated: got > max };
  } finally {
    await fh.close();
  }
}
