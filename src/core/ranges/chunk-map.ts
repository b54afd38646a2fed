/**
 * Which parts of an image must reach the card, at CHUNK granularity. A chunk is written when any
 * byte of it is needed; adjacent chunks are merged into runs for large sequential writes.
 */
export const CHUNK = 4 * 1024;

export class ChunkMap {
  readonly bits: Uint8Array;
  constructor(readonly size: number) {
    this.bits = new Uint8Array(Math.ceil(size / CHUNK));
  }

  /** Marks bytes [start, start+length) as needed. */
  mark(start: number, length: number): void {
    if (length <= 0) return;
    const first = Math.floor(start / CHUNK);
    const last = Math.min(this.bits.length - 1, Math.floor((start + length - 1) / CHUNK));
    this.bits.fill(1, first, last + 1);
  }

  /** Unmarks the chunks lying wholly inside [start, start+length); partly covered ones stay. */
  unmarkWhole(start: number, length: number): void {
    const first = Math.ceil(start / CHUNK);
    const end = Math.floor((start + length) / CHUNK);
    if (end > first) this.bits.fill(0, first, Math.min(end, this.bits.length));
  }

  has(chunk: number): boolean {
    return this.bits[chunk] === 1;
  }

  /** Runs of needed bytes, [offset, length], each at most maxRun bytes. */
  runs(maxRun = 4 * 1024 * 1024): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    const perRun = Math.max(1, Math.floor(maxRun / CHUNK));
    for (let i = 0; i < this.bits.length; ) {
      if (!this.bits[i]) {
        i++;
        continue;
      }
      let j = i;
      while (j < this.bits.length && this.bits[j] && j - i < perRun) j++;
      const off = i * CHUNK;
      out.push([off, Math.min(j * CHUNK, this.size) - off]);
      i = j;
    }
    return out;
  }

  /** The bytes runs() covers, counted without building the runs (a 1 GiB image has 262,144 chunks). */
  get markedBytes(): number {
    const { bits } = this;
    // Run by run, each end found by the engine's own indexOf: a start-up cost (before the first
    // write, on code not yet optimised) of one step per run of marked chunks, not one per chunk.
    let n = 0;
    for (let i = bits.indexOf(1); i >= 0; ) {
      const j = bits.indexOf(0, i);
      const end = j < 0 ? bits.length : j;
      n += end - i;
      i = j < 0 ? -1 : bits.indexOf(1, end);
    }
    if (n === 0) return 0;
    // Only the last chunk can be short (the image's size need not be a multiple of CHUNK).
    const last = bits.length - 1;
    return n * CHUNK - (bits[last] ? bits.length * CHUNK - this.size : 0);
  }
}
