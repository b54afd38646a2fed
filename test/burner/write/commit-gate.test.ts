import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { burn, HEAD } from '../../../src/burner/write/burn.js';
import { makeImage, MIB, oldBootableCard, tempDirs } from '../fixtures.js';

const dir = tempDirs('metis-gate-');
const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const headOf = (file: string) => {
  const fd = openSync(file, 'r');
  const b = Buffer.alloc(HEAD);
  readSync(fd, b, 0, HEAD, 0);
  closeSync(fd);
  return b;
};

describe('burn hashes the bytes it writes and gates the partition table on callers\' checks', () => {
  it.each(['raw', 'xz', 'zst'])('reports the sha256 of the image file (%s) and shows every byte to observe()', async (kind) => {
    const d = dir();
    let img = makeImage(d, { sizeMiB: 100, dataMiB: 3 });
    if (kind === 'xz') execFileSync('xz', ['-k', '-0', '-T0', img]);
    if (kind === 'zst') execFileSync('zstd', ['-q', '-1', img, '-o', `${img}.zst`]);
    if (kind !== 'raw') img = `${img}.${kind}`;
    const seen = createHash('sha256');
    let gate: { sha256: string; bytes: number } | null = null;
    const r = await burn({ image: img, target: join(d, 'card.img'), verify: true, observe: (b) => seen.update(b), beforeCommit: (s) => void (gate = s) });
    const want = hex(readFileSync(img));
    expect(r.sha256).toBe(want);
    expect(seen.digest('hex')).toBe(want);
    expect(gate).toEqual({ sha256: want, bytes: readFileSync(img).length });
  });

  it.each([
    ['raw', true],
    ['xz', true],
    ['raw', false],
    ['xz', false],
  ])('a refusing beforeCommit leaves no partition table: the first MiB is wiped, not the image\'s (%s, verify %s)', async (kind, verify) => {
    const d = dir();
    let img = makeImage(d, { sizeMiB: 100, dataMiB: 2 });
    if (kind === 'xz') {
      execFileSync('xz', ['-k', '-0', img]);
      img = `${img}.xz`;
    }
    const out = join(d, 'card.img');
    // The old card booted: its own MBR signature is in place.
    oldBootableCard(out, 100);
    const refusal = new Error('refused by the test gate');
    let injected = false;
    const inject = async () => void (injected = true);
    await expect(burn({ image: img, target: out, verify, beforeCommit: () => Promise.reject(refusal), inject })).rejects.toBe(refusal);
    // A refused gate never lets the manifest in (without a read-back the gate runs during the last flush, still first).
    expect(injected).toBe(false);
    const head = headOf(out);
    expect(head.every((b) => b === 0)).toBe(true);
  });

  it('an image changed while it is written: the digest is of the bytes written, so an expected digest fails the gate', async () => {
    const d = dir();
    const img = makeImage(d, { sizeMiB: 128, dataMiB: 12 });
    const original = hex(readFileSync(img));
    const out = join(d, 'card.img');
    let changed = false;
    let gateSaw = '';
    const e = await burn({
      image: img,
      target: out,
      verify: true,
      onProgress: (p) => {
        if (p.phase === 'writing' && !changed) {
          changed = true;
          // Far past the reader's position: the change reaches the card.
          const fd = openSync(img, 'r+');
          writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, 120 * MIB);
          closeSync(fd);
        }
      },
      beforeCommit: ({ sha256 }) => {
        gateSaw = sha256;
        if (sha256 !== original) throw new Error(`expected ${original}, got ${sha256}`);
      },
    }).then(() => null, (x: unknown) => x);
    expect(changed).toBe(true);
    expect(gateSaw).toBe(hex(readFileSync(img)));
    expect(gateSaw).not.toBe(original);
    expect(String(e)).toContain(`expected ${original}, got ${gateSaw}`);
    // The image file this burn created is not left behind half-made.
    expect(existsSync(out)).toBe(false);
  });

  it('an image that shrinks while it is written fails with the write-failure exit code', async () => {
    const d = dir();
    const img = makeImage(d, { sizeMiB: 128, dataMiB: 12 });
    let cut = false;
    const e = await burn({
      image: img,
      target: join(d, 'card.img'),
      verify: false,
      onProgress: (p) => {
        if (p.phase === 'writing' && !cut) {
          cut = true;
          execFileSync('truncate', ['-s', `${110 * MIB}`, img]);
        }
      },
    }).then(() => null, (x: unknown) => x);
    expect(e).toMatchObject({ code: 'E_IMAGE_CHANGED', exitCode: 6 });
    expect(String(e)).toContain('the card will not boot; burn again');
  });
});
