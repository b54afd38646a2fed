import { mkdtempSync, rmSync, type Stats, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { readBounded } from '../../src/manifest/read-bounded.js';

const dir = mkdtempSync(join(tmpdir(), 'metis-read-bounded-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('readBounded', () => {
  it.each([
    ['empty file', 0, 16, 0, false],
    ['smaller than the bound', 5, 16, 5, false],
    ['exactly the bound', 16, 16, 16, false],
    ['one byte over', 17, 16, 16, true],
    ['far over', 5000, 16, 16, true],
  ])('%s', async (name, size, max, got, truncated) => {
    const f = join(dir, name.replace(/\W/g, '_'));
    const text = Buffer.from(Array.from({ length: size }, (_, i) => 97 + (i % 26)));
    writeFileSync(f, text);
    const r = await readBounded(f, max);
    expect(r.data.equals(text.subarray(0, got))).toBe(true);
    expect(r.truncated).toBe(truncated);
  });

  it('reads a file whose stat says 0 (a /proc file) whole', async () => {
    const r = await readBounded('/proc/self/status', 1 << 20);
    expect(r.truncated).toBe(false);
    expect(r.data.toString()).toMatch(/^Name:/);
    expect(r.data.toString()).toMatch(/\nPid:\s+\d+/);
  });

  it('stops an endless device at the bound', async () => {
    const r = await readBounded('/dev/zero', 1000);
    expect(r.data.length).toBe(1000);
    expect(r.truncated).toBe(true);
  });

  it.each([
    ['reads on past a stat that says less (a file that grew), whole', 100, 'abcdefghij', false],
    ['reads on past a stat that says less, up to the bound', 6, 'abcdef', true],
  ])('%s', async (_name, max, want, truncated) => {
    const f = join(dir, `grew-${max}`);
    writeFileSync(f, 'abcdefghij');
    // The stat readBounded sizes its buffer by says 3 bytes: what a file that grew after it looks like.
    const fh = await open(f, 'r');
    const proto = Object.getPrototypeOf(fh) as { stat: (...a: unknown[]) => Promise<Stats> };
    await fh.close();
    const real = proto.stat;
    const spy = vi.spyOn(proto, 'stat').mockImplementation(async function (this: unknown, ...a: unknown[]) {
      const st = await real.apply(this, a);
      return Object.assign(st, { size: 3 });
    });
    try {
      const r = await readBounded(f, max);
      expect(spy).toHaveBeenCalled();
      expect(r.data.toString()).toBe(want);
      expect(r.truncated).toBe(truncated);
    } finally {
      spy.mockRestore();
    }
  });
});
