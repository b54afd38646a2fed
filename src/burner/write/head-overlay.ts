import type { FileHandle } from 'node:fs/promises';
import type { BlockIo } from '../fat/volume.js';

/**
 * The card as it will be once its first MiB goes down: reads and writes below `head.length` go to
 * the head still held in memory (written last, with the partition table), the rest to the card.
 * No `sync`: the card cannot boot before its head is written, so nothing done through this view
 * needs barriers between its steps (one sync before the head covers them all). `wrote` is told
 * each span written into the head (those chunks must go down with it).
 */
export function headOverlay(fh: FileHandle, head: Buffer, wrote?: (position: number, length: number) => void): BlockIo {
  const split = async (buf: Buffer, offset: number, length: number, position: number, onCard: (o: number, l: number, p: number) => Promise<unknown>, inHead: (o: number, l: number, p: number) => void) => {
    const below = Math.max(0, Math.min(length, head.length - position));
    if (below > 0) inHead(offset, below, position);
    if (length > below) await onCard(offset + below, length - below, position + below);
  };
  return {
    read: (buf, offset, length, position) =>
      split(buf, offset, length, position, async (o, l, p) => {
        let got = 0;
        while (got < l) {
          const { bytesRead } = await fh.read(buf, o + got, l - got, p + got);
          if (bytesRead === 0) {
            buf.fill(0, o + got, o + l);
            break;
          }
          got += bytesRead;
        }
      }, (o, l, p) => head.copy(buf, o, p, p + l)),
    write: (buf, offset, length, position) =>
      split(buf, offset, length, position, async (o, l, p) => {
        let put = 0;
        while (put < l) put += (await fh.write(buf, o + put, l - put, p + put)).bytesWritten;
      }, (o, l, p) => {
        buf.copy(head, p, o, o + l);
        wrote?.(p, l);
      }),
  };
}
