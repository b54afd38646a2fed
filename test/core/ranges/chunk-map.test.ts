import { describe, expect, it } from 'vitest';
import { CHUNK, ChunkMap } from '../../../src/core/ranges/chunk-map.js';

const runsBytes = (m: ChunkMap) => m.runs().reduce((a, [, l]) => a + l, 0);

describe('ChunkMap.markedBytes', () => {
  it.each([
    ['empty', 10 * CHUNK, [] as Array<[number, number]>, 0],
    ['one chunk', 10 * CHUNK, [[0, 1]] as Array<[number, number]>, CHUNK],
    ['the short last chunk counts its own bytes only', 10 * CHUNK + 100, [[10 * CHUNK, 1]] as Array<[number, number]>, 100],
    ['whole image with a short tail', 3 * CHUNK + 7, [[0, 3 * CHUNK + 7]] as Array<[number, number]>, 3 * CHUNK + 7],
    ['two runs', 64 * CHUNK, [[CHUNK, CHUNK + 1], [40 * CHUNK + 5, 3 * CHUNK]] as Array<[number, number]>, 2 * CHUNK + 4 * CHUNK],
  ])('%s', (_name, size, marks, bytes) => {
    const m = new ChunkMap(size);
    for (const [at, n] of marks) m.mark(at, n);
    expect(m.markedBytes).toBe(bytes);
    expect(m.markedBytes).toBe(runsBytes(m));
  });

  it('agrees with the runs on random maps', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let k = 0; k < 50; k++) {
      const size = Math.floor(rnd() * 300 * CHUNK) + 1;
      const m = new ChunkMap(size);
      for (let j = 0; j < 10; j++) m.mark(Math.floor(rnd() * size), Math.floor(rnd() * 20 * CHUNK));
      expect(m.markedBytes).toBe(runsBytes(m));
    }
  });
});
