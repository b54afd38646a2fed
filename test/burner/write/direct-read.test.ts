import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DirectReader } from '../../../src/burner/write/direct-read.js';
import { isRoot, MIB, tempDir } from '../fixtures.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).reverse().forEach((c) => c()));

describe.skipIf(!isRoot)('DirectReader on a loop device', () => {
  if (!isRoot) console.warn('skip: needs root: loop devices');

  function card(bytes: Buffer): { backing: string; dev: string } {
    const t = tempDir('metis-direct-');
    cleanups.push(t.cleanup);
    const backing = join(t.dir, 'card.img');
    writeFileSync(backing, bytes);
    const dev = execFileSync('losetup', ['-f', '--show', backing], { encoding: 'utf8' }).trim();
    cleanups.push(() => execFileSync('losetup', ['-d', dev]));
    return { backing, dev };
  }

  it('returns exactly the requested bytes for unaligned offsets and lengths, up to the device end', async () => {
    const data = randomBytes(4 * MIB);
    const { dev } = card(data);
    const r = await DirectReader.open(dev, MIB, data.length);
    try {
      for (const [off, len] of [[0, 4096], [1, 1], [4095, 2], [12345, 700001], [3 * MIB, MIB], [4 * MIB - 10, 10]] as const) {
        expect((await r.read(off, len)).equals(data.subarray(off, off + len)), `${off}+${len}`).toBe(true);
      }
      await expect(r.read(0, MIB + 1)).rejects.toMatchObject({ code: 'E_DIRECT_IO' });
    } finally {
      await r.close();
    }
  });

  it('readInto fills a buffer across several reads of the reader\'s length, and refuses to read past the device end', async () => {
    const data = randomBytes(MIB);
    const { dev } = card(data);
    const r = await DirectReader.open(dev, 8192, data.length);
    try {
      expect(r.size).toBe(MIB);
      const into = Buffer.alloc(50_000 + 7);
      await r.readInto(into, 7, 50_000, 3001);
      expect(into.subarray(7).equals(data.subarray(3001, 53_001))).toBe(true);
      expect(into.subarray(0, 7).every((b) => b === 0)).toBe(true);
      await expect(r.readInto(Buffer.alloc(8192), 0, 8192, MIB - 4096)).rejects.toMatchObject({ code: 'E_DIRECT_IO' });
    } finally {
      await r.close();
    }
  });

  it("bypasses the device's page cache: sees bytes a buffered read of the device does not", async () => {
    const { backing, dev } = card(Buffer.alloc(MIB, 0x11));
    // Held open throughout: the kernel drops a block device's cache on its last close.
    const bfd = openSync(dev, 'r');
    const buffered = () => {
      const b = Buffer.alloc(4096);
      readSync(bfd, b, 0, 4096, 0);
      return b;
    };
    try {
      buffered(); // now cached in the loop device's page cache
      // Change the card behind the cache's back: through the backing file, not the loop device.
      const fd = openSync(backing, 'r+');
      writeSync(fd, Buffer.alloc(4096, 0x22), 0, 4096, 0);
      closeSync(fd);
      // The control: the buffered path still sees the old bytes, else this test proves nothing.
      expect(buffered().every((b) => b === 0x11)).toBe(true);
      const r = await DirectReader.open(dev, MIB, MIB);
      try {
        expect((await r.read(0, 4096)).every((b) => b === 0x22)).toBe(true);
      } finally {
        await r.close();
      }
    } finally {
      closeSync(bfd);
    }
  });
});
