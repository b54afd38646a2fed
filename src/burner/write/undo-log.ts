import type { BlockIo } from '../fat/volume.js';

export interface UndoableIo extends BlockIo {
  /** Puts back what every write replaced, the last write first; then the view is as it was before the first. */
  undo(): Promise<void>;
}

/**
 * A view of `io` that reads, before each write, the bytes the write replaces, so `undo()` can put
 * them back. The manifest's injection goes through one: a burn that fails after it (a refused
 * commit, an interrupt, a failed sync or head) takes the manifest, and the join token in it, off a
 * card that did not become the node, and leaves its FAT partition as the image had it.
 */
export function undoLog(io: BlockIo): UndoableIo {
  const log: Array<{ position: number; old: Buffer }> = [];
  return {
    read: (buf, offset, length, position) => io.read(buf, offset, length, position),
    async write(buf, offset, length, position) {
      const old = Buffer.alloc(length);
      await io.read(old, 0, length, position);
      log.push({ position, old });
      return io.write(buf, offset, length, position);
    },
    async undo() {
      for (let i = log.length - 1; i >= 0; i--) {
        const { position, old } = log[i]!;
        await io.write(old, 0, old.length, position);
      }
      log.length = 0;
    },
  };
}
