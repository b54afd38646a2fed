import { open } from 'node:fs/promises';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { headOverlay } from '../../../src/burner/write/head-overlay.js';
import { tempDirs } from '../fixtures.js';

const dir = tempDirs('metis-overlay-');

describe('headOverlay', () => {
  it('reads and writes below the head go to the held-back head, above it to the card; a span across both is split', async () => {
    const f = join(dir(), 'card');
    writeFileSync(f, Buffer.alloc(64, 0xcc));
    const head = Buffer.alloc(16, 0xaa);
    const fh = await open(f, 'r+');
    try {
      const io = headOverlay(fh, head);
      const b = Buffer.alloc(8);
      await io.read(b, 0, 8, 12);
      expect([...b]).toEqual([0xaa, 0xaa, 0xaa, 0xaa, 0xcc, 0xcc, 0xcc, 0xcc]);
      await io.write(Buffer.from([1, 2, 3, 4, 5, 6]), 1, 4, 14); // bytes 2,3 → head[14..15]; 4,5 → card[16..17]
      expect([...head.subarray(12)]).toEqual([0xaa, 0xaa, 2, 3]);
      expect(head.subarray(0, 12).every((x) => x === 0xaa)).toBe(true);
      // Reads past the card's end read as zeros, not as an error.
      const tail = Buffer.alloc(4, 9);
      await io.read(tail, 0, 4, 62);
      expect([...tail]).toEqual([0xcc, 0xcc, 0, 0]);
    } finally {
      await fh.close();
    }
    const card = readFileSync(f);
    expect(card.subarray(0, 16).every((x) => x === 0xcc)).toBe(true); // the card's own head untouched
    expect([...card.subarray(16, 18)]).toEqual([4, 5]);
  });
});
