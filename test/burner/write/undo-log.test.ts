import { describe, expect, it } from 'vitest';
import type { BlockIo } from '../../../src/burner/fat/volume.js';
import { undoLog } from '../../../src/burner/write/undo-log.js';

/** A BlockIo over a buffer, counting its writes. */
function memory(bytes: Buffer): BlockIo & { writes: number } {
  const io = {
    writes: 0,
    async read(buf: Buffer, offset: number, length: number, position: number) {
      bytes.copy(buf, offset, position, position + length);
    },
    async write(buf: Buffer, offset: number, length: number, position: number) {
      io.writes++;
      buf.copy(bytes, position, offset, offset + length);
    },
  };
  return io;
}

describe('undoLog', () => {
  it('puts back what overlapping writes replaced, the last first, and reads see the writes until then', async () => {
    const disk = Buffer.from('abcdefghijklmnopqrstuvwxyz');
    const orig = Buffer.from(disk);
    const io = undoLog(memory(disk));
    await io.write(Buffer.from('XXXXX'), 0, 5, 2);
    await io.write(Buffer.from('__YY__'), 2, 2, 5);
    const seen = Buffer.alloc(8);
    await io.read(seen, 0, 8, 0);
    expect(seen.toString()).toBe('abXXXYYh');
    await io.undo();
    expect(disk.equals(orig)).toBe(true);
    // A second undo has nothing left to put back.
    await io.undo();
    expect(disk.equals(orig)).toBe(true);
  });

  it('with nothing written, undo writes nothing', async () => {
    const mem = memory(Buffer.alloc(16));
    await undoLog(mem).undo();
    expect(mem.writes).toBe(0);
  });
});
