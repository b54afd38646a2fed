import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { openSync, fsyncSync, readFileSync, readSync, closeSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { batchRanges, burn, HEAD, headRanges } from '../../../src/burner/write/burn.js';
import { BurnAbortedError, VerifyError } from '../../../src/burner/write/errors.js';
import { fsckBoot, isRoot, makeImage, MIB, tempDir } from '../fixtures.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).reverse().forEach((c) => c()));
function dir(): string {
  const t = tempDir();
  cleanups.push(t.cleanup);
  return t.dir;
}

/** A loop device over `backing`, detached after the test. */
function attachLoop(backing: string): string {
  const loop = execFileSync('losetup', ['-f', '--show', backing], { encoding: 'utf8' }).trim();
  cleanups.push(() => execFileSync('losetup', ['-d', loop]));
  return loop;
}

function e2fsck(img: string): void {
  execFileSync('e2fsck', ['-fn', `${img}?offset=${(2048 + 131072) * 512}`], { stdio: 'pipe' });
}

describe('burn', () => {
  it('writes only allocated ranges of a raw image, and the result is byte-identical where it matters', async () => {
    const d = dir();
    const img = makeImage(d, { sizeMiB: 160, dataMiB: 8 });
    const out = join(d, 'card.img');
    const phases = new Set<string>();
    const r = await burn({ image: img, target: out, verify: true, onProgress: (e) => phases.add(e.phase) });
    expect(r.imageSize).toBe(160 * MIB);
    expect(r.verified).toBe(true);
    // 8 MiB of data plus metadata: far less than the whole image.
    expect(r.bytesWritten).toBeGreaterThan(8 * MIB);
    expect(r.bytesWritten).toBeLessThan(40 * MIB);
    expect([...phases]).toEqual(['analyzing', 'writing', 'verifying', 'finished']);
    // The target is a sparse file of the same size: holes read as zeros, as the skipped free blocks were.
    expect(statSync(out).size).toBe(statSync(img).size);
    expect(readFileSync(out).equals(readFileSync(img))).toBe(true);
    e2fsck(out);
  });

  it('streams .xz, .gz and .zst images to the same bytes', async () => {
    const d = dir();
    const img = makeImage(d, { sizeMiB: 100, dataMiB: 2 });
    for (const [tool, ext] of [['xz', 'xz'], ['gzip', 'gz'], ['zstd', 'zst']] as const) {
      execFileSync(tool, ['-k', '-q', '-f', ...(tool === 'zstd' ? ['-o', `${img}.${ext}`] : []), img]);
      const out = join(d, `card-${ext}.img`);
      const r = await burn({ image: `${img}.${ext}`, target: out, verify: true });
      expect(r.imageSize, ext).toBe(100 * MIB);
      expect(readFileSync(out).equals(readFileSync(img)), ext).toBe(true);
    }
  });

  it.each(['raw', 'xz'])('overwrites an existing, larger image file completely (%s): no old byte survives', async (kind) => {
    const d = dir();
    const img = makeImage(d, { sizeMiB: 100, dataMiB: 2 });
    if (kind === 'xz') execFileSync('xz', ['-0', '-k', '-q', '-f', img]);
    const out = join(d, 'old-card.img');
    writeFileSync(out, Buffer.alloc(120 * MIB, 0xee));
    await burn({ image: kind === 'xz' ? `${img}.xz` : img, target: out, verify: true });
    execFileSync('cmp', [img, out]);
  });

  it('uses a supplied bmap', async () => {
    const d = dir();
    const img = makeImage(d, { sizeMiB: 100, dataMiB: 2 });
    const bmap = join(d, 'class.bmap');
    // Only the first 2 MiB are declared allocated: everything else must stay a hole.
    writeFileSync(bmap, `<?xml version="1.0" ?>\n<bmap version="2.0"><ImageSize>${100 * MIB}</ImageSize><BlockSize>4096</BlockSize><BlocksCount>25600</BlocksCount><BlockMap><Range> 0-511 </Range></BlockMap></bmap>\n`);
    const out = join(d, 'card.img');
    const r = await burn({ image: img, target: out, bmap, verify: true });
    expect(r.bytesWritten).toBe(2 * MIB);
  });

  it.each([false, true])('writes the partition table last: an interrupted burn leaves the first MiB as it was (verify %s)', async (verify) => {
    const d = dir();
    const img = makeImage(d, { sizeMiB: 100, dataMiB: 4 });
    const out = join(d, 'card.img');
    writeFileSync(out, Buffer.alloc(100 * MIB, 0xee));
    const ac = new AbortController();
    let writes = 0;
    await expect(
      burn({
        image: img,
        target: out,
        verify,
        signal: ac.signal,
        onProgress: (e) => {
          if (e.phase === 'writing' && ++writes === 2) ac.abort();
        },
      }),
    ).rejects.toBeInstanceOf(BurnAbortedError);
    const fd = openSync(out, 'r');
    const head = Buffer.alloc(HEAD);
    readSync(fd, head, 0, HEAD, 0);
    closeSync(fd);
    expect(head.subarray(510, 512).equals(Buffer.from([0x55, 0xaa]))).toBe(false);
    // Not a byte of the first MiB changed, while data past it was written already.
    expect(head.every((b) => b === 0xee)).toBe(true);
    expect(readFileSync(out).subarray(HEAD).some((b) => b !== 0xee)).toBe(true);
  });

  describe.skipIf(!isRoot)('to a loop device', () => {
    if (!isRoot) console.warn('skip: needs root: loop devices');
    /** A 100 MiB test image, and a 128 MiB card (loop device) full of 0x5a. */
    const imageAndCard = () => {
      const d = dir();
      const img = makeImage(d, { sizeMiB: 100, dataMiB: 4 });
      const backing = join(d, 'loop-backing.img');
      writeFileSync(backing, Buffer.alloc(128 * MIB, 0x5a));
      return { d, img, backing, loop: attachLoop(backing) };
    };

    it('burns and verifies through the block device, bypassing the page cache', async () => {
      const { img, backing, loop } = imageAndCard();
      const r = await burn({ image: img, target: loop, verify: true });
      expect(r.verified).toBe(true);
      // Allocated ranges carry the image; an unallocated chunk keeps the card's old bytes (sparse).
      const got = readFileSync(backing);
      expect(got.subarray(0, MIB).equals(readFileSync(img).subarray(0, MIB))).toBe(true);
      expect(got.subarray(100 * MIB, 101 * MIB).every((b) => b === 0x5a)).toBe(true);
    });

    it('whileDraining runs once on a block device with a read-back, after the last range is written, and its failure does not fail the burn; never on a file or without a read-back', async () => {
      const { d, img, backing, loop } = imageAndCard();
      const seen: number[] = [];
      let written = 0;
      const r = await burn({
        image: img,
        target: loop,
        verify: true,
        onProgress: (e) => e.phase === 'writing' && (written = e.bytes),
        whileDraining: async () => {
          seen.push(written);
          throw new Error('a rehearsal that fails');
        },
      });
      expect(r.bytesWritten).toBeGreaterThan(0);
      expect(seen).toHaveLength(1);
      // Everything but the first MiB had been written (buffered) when it ran: no 'writing' progress came after it.
      expect(seen[0]).toBeGreaterThan(0);
      expect(seen[0]).toBe(written);
      expect(readFileSync(backing).subarray(0, MIB).equals(readFileSync(img).subarray(0, MIB))).toBe(true);
      const file = join(d, 'out.img');
      let called = false;
      await burn({ image: img, target: file, verify: false, whileDraining: async () => void (called = true) });
      expect(called).toBe(false);
      await burn({ image: img, target: loop, verify: false, whileDraining: async () => void (called = true) });
      expect(called).toBe(false);
    });

    it.each([false, true])('a burn that fails after the injection (verify %s) takes the injected bytes off the card again and keeps the old head', async (verify) => {
      const { img, backing, loop } = imageAndCard();
      const mark = Buffer.from('K10secret-join-token-injected-by-the-test');
      let seenAtHead = false;
      const stop = new Error('the workstation said no');
      const before = Buffer.alloc(80);
      await expect(
        burn({
          image: img,
          target: loop,
          verify,
          inject: async (card) => {
            await card.read(before, 0, before.length, 40 * MIB - 16);
            await card.write(mark, 0, mark.length, 40 * MIB);
            await card.write(mark, 0, mark.length, 40 * MIB + 3);
          },
          beforeHead: async () => {
            // Synced and on the card by now...
            const fd = openSync(backing, 'r');
            const b = Buffer.alloc(mark.length);
            readSync(fd, b, 0, b.length, 40 * MIB + 3);
            closeSync(fd);
            seenAtHead = b.equals(mark);
            throw stop;
          },
        }),
      ).rejects.toBe(stop);
      expect(seenAtHead).toBe(true);
      // ...and gone after the refusal: the card holds what it held before the injection, and its old head.
      const back = readFileSync(backing);
      expect(before.includes(mark)).toBe(false);
      expect(back.subarray(40 * MIB - 16, 40 * MIB + 64).equals(before)).toBe(true);
      expect(back.includes(mark)).toBe(false);
      expect(back.subarray(0, MIB).every((b) => b === 0x5a)).toBe(true);
    });

    it('without a read-back, the gate and the injection run before the sync ahead of the first MiB, and the card carries both', async () => {
      const { img, backing, loop } = imageAndCard();
      const steps: string[] = [];
      const mark = Buffer.from('injected by the test, without a read-back');
      const want = createHash('sha256').update(readFileSync(img)).digest('hex');
      await burn({
        image: img,
        target: loop,
        verify: false,
        beforeCommit: ({ sha256 }) => void steps.push(`gate ${sha256 === want}`),
        inject: async (card) => {
          steps.push('inject');
          await card.write(mark, 0, mark.length, 40 * MIB);
        },
        beforeHead: async () => void steps.push('head'),
      });
      expect(steps).toEqual(['gate true', 'inject', 'head']);
      const back = readFileSync(backing);
      expect(back.subarray(40 * MIB, 40 * MIB + mark.length).equals(mark)).toBe(true);
      expect(back.subarray(0, MIB).equals(readFileSync(img).subarray(0, MIB))).toBe(true);
    });
  });
});

describe('verify catches a range that changed on the target after it was written', () => {
  // Only the head and [1 MiB, 2 MiB) are written (bmap); a byte of the second range is flipped
  // behind the burner's back: on an image file when verification starts (its read-back waits for
  // the end); on a card as soon as the range was written, through the device and synced (a card's
  // ranges are read back as each flush lands, and the first flush starts with the first block).
  async function corruptedBurn(target: string, backing: string, d: string, when: 'verifying' | 'writing' = 'verifying'): Promise<unknown> {
    const img = makeImage(d, { sizeMiB: 100, dataMiB: 1 });
    const bmap = join(d, 'class.bmap');
    writeFileSync(bmap, `<bmap version="2.0"><ImageSize>${100 * MIB}</ImageSize><BlockSize>4096</BlockSize><BlockMap><Range>0-511</Range></BlockMap></bmap>`);
    let flipped = false;
    return burn({
      image: img, target, bmap, verify: true,
      onProgress: (e) => {
        // While writing: once the range is on the card (the first MiB is read before anything is written).
        if (e.phase !== when || flipped || (when === 'writing' && e.bytes === 0)) return;
        flipped = true;
        const fd = openSync(backing, 'r+');
        writeSync(fd, Buffer.from([0xa5]), 0, 1, MIB + 12345);
        fsyncSync(fd);
        closeSync(fd);
      },
    }).then(() => null, (err: unknown) => err);
  }

  it('on an image file', async () => {
    const d = dir();
    const out = join(d, 'card.img');
    const e = await corruptedBurn(out, out, d);
    expect(e).toBeInstanceOf(VerifyError);
    expect(e).toMatchObject({ code: 'E_VERIFY', offset: MIB, length: MIB });
  });

  describe.skipIf(!isRoot)('on a loop device (O_DIRECT read-back)', () => {
    if (!isRoot) console.warn('skip: needs root: loop devices');
    it('reports the changed range', async () => {
      const d = dir();
      const backing = join(d, 'loop-backing.img');
      writeFileSync(backing, Buffer.alloc(100 * MIB));
      const loop = attachLoop(backing);
      const e = await corruptedBurn(loop, loop, d, 'writing');
      expect(e).toBeInstanceOf(VerifyError);
      expect(e).toMatchObject({ offset: MIB, length: MIB });
      expect((e as VerifyError).actual).not.toBe((e as VerifyError).expected);
    });
  });
});

describe.skipIf(!isRoot)('compressed image to a block device', () => {
  if (!isRoot) console.warn('skip: needs root: loop devices');
  function card(d: string): { loop: string; backing: string } {
    const backing = join(d, 'loop-backing.img');
    writeFileSync(backing, Buffer.alloc(100 * MIB, 0x5a));
    const loop = attachLoop(backing);
    return { loop, backing };
  }

  it('writes zero chunks too (the old card bytes must not survive), and cmp finds the image', async () => {
    const d = dir();
    const img = makeImage(d, { sizeMiB: 100, dataMiB: 2 });
    execFileSync('zstd', ['-q', '-f', img, '-o', `${img}.zst`]);
    const { loop, backing } = card(d);
    const r = await burn({ image: `${img}.zst`, target: loop, verify: true });
    expect(r.bytesWritten).toBe(100 * MIB);
    execFileSync('cmp', [img, backing]);
  });

  it('with a bmap, skips the chunks it leaves out even on a block device', async () => {
    const d = dir();
    const img = makeImage(d, { sizeMiB: 100, dataMiB: 2 });
    execFileSync('xz', ['-0', '-k', '-q', '-f', img]);
    const bmap = join(d, 'class.bmap');
    writeFileSync(bmap, `<bmap version="2.0"><ImageSize>${100 * MIB}</ImageSize><BlockSize>4096</BlockSize><BlockMap><Range>0-767</Range></BlockMap></bmap>`);
    const { loop, backing } = card(d);
    const r = await burn({ image: `${img}.xz`, target: loop, bmap, verify: true });
    expect(r.bytesWritten).toBe(3 * MIB);
    const got = readFileSync(backing);
    expect(got.subarray(0, 3 * MIB).equals(readFileSync(img).subarray(0, 3 * MIB))).toBe(true);
    expect(got.subarray(3 * MIB).every((b) => b === 0x5a)).toBe(true);
  });

  it('refuses a bmap whose ImageSize is not the decompressed size (gzip records none)', async () => {
    const d = dir();
    const img = makeImage(d, { sizeMiB: 100, dataMiB: 1 });
    execFileSync('gzip', ['-1', '-k', '-f', img]);
    const bmap = join(d, 'class.bmap');
    writeFileSync(bmap, `<bmap version="2.0"><ImageSize>${99 * MIB}</ImageSize><BlockSize>4096</BlockSize><BlockMap><Range>0-1</Range></BlockMap></bmap>`);
    const { loop } = card(d);
    await expect(burn({ image: `${img}.gz`, target: loop, bmap, verify: false })).rejects.toMatchObject({ code: 'E_BMAP', path: 'ImageSize' });
  });
});

describe.skipIf(!isRoot)('sparse burn onto a card full of old data', () => {
  if (!isRoot) console.warn('skip: needs root: loop devices');
  it('skipped ranges keep garbage, yet e2fsck and fsck.fat find both filesystems clean and the files intact', async () => {
    const d = dir();
    const img = makeImage(d, { sizeMiB: 160, dataMiB: 8 });
    const backing = join(d, 'used-card.img');
    writeFileSync(backing, randomBytes(160 * MIB));
    const loop = attachLoop(backing);
    const r = await burn({ image: img, target: loop, verify: true });
    expect(r.bytesWritten).toBeLessThan(80 * MIB);
    e2fsck(backing);
    const { status, report } = fsckBoot(backing, d);
    expect(status, report).toBe(0);
    const rootAt = `${backing}?offset=${(2048 + 131072) * 512}`;
    const data = (name: string, file: string) => execFileSync('debugfs', ['-R', `cat ${name}`, file], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 * MIB });
    expect(data('/data.bin', rootAt).equals(data('/data.bin', `${img}?offset=${(2048 + 131072) * 512}`))).toBe(true);
  });
});

describe('batchRanges (verify reads contiguous ranges at once)', () => {
  const r = (offset: number, length: number) => ({ offset, length, sha256: '' });
  it.each([
    ['contiguous ranges merge up to the limit', [r(0, 4), r(4, 4), r(8, 4)], 8, [[0, 8, 2], [8, 4, 1]]],
    ['a gap starts a new batch', [r(0, 4), r(6, 2)], 100, [[0, 4, 1], [6, 2, 1]]],
    ['a range longer than the limit stays alone', [r(0, 2), r(2, 50), r(52, 2)], 8, [[0, 2, 1], [2, 50, 1], [52, 2, 1]]],
    ['many 64 KiB stream chunks', Array.from({ length: 100 }, (_, i) => r(i * 65536, 65536)), 4 * MIB, [[0, 4 * MIB, 64], [4 * MIB, 36 * 65536, 36]]],
  ])('%s', (_l, ranges, limit, expected) => {
    expect(batchRanges(ranges, limit).map((b) => [b.offset, b.length, b.ranges.length])).toEqual(expected);
  });
});

describe.skipIf(!isRoot)('overlapped read-back on a loop device (a range is read back while later ones are written)', () => {
  if (!isRoot) console.warn('skip: needs root: loop devices');
  // 48 MiB of data: more than one 32 MiB flush, so ranges are read back while the write goes on.
  function card(d: string): { loop: string; backing: string; img: string } {
    const img = makeImage(d, { sizeMiB: 128, dataMiB: 48 });
    const backing = join(d, 'loop-backing.img');
    writeFileSync(backing, Buffer.alloc(128 * MIB, 0xee));
    return { loop: attachLoop(backing), backing, img };
  }

  it('a clean burn verifies every range and the head, and the card matches the image where written', async () => {
    const d = dir();
    const { loop, backing, img } = card(d);
    const seen: string[] = [];
    const r = await burn({ image: img, target: loop, verify: true, onProgress: (e) => seen.at(-1) !== e.phase && seen.push(e.phase) });
    expect(r.verified).toBe(true);
    expect(seen).toEqual(['analyzing', 'writing', 'verifying', 'finished']);
    const got = readFileSync(backing);
    expect(got.subarray(0, HEAD).equals(readFileSync(img).subarray(0, HEAD))).toBe(true);
    e2fsck(backing);
  });

  it('a range changed on the card right after it was written: E_VERIFY naming it, and the card does not boot (first MiB wiped)', async () => {
    const d = dir();
    const { loop, backing, img } = card(d);
    let flipped = false;
    const e = await burn({
      image: img, target: loop, verify: true,
      onProgress: (p) => {
        // After the first written block (the first MiB is only read: bytes 0): [1 MiB, 2 MiB) is
        // written, not yet covered by a flush, so not yet read back. Pushed to the backing file now (so
        // the burn's later writeback does not undo the change), then changed there: a card that took
        // a write wrong.
        if (p.phase !== 'writing' || p.bytes === 0 || flipped) return;
        flipped = true;
        execFileSync('blockdev', ['--flushbufs', loop]);
        const fd = openSync(backing, 'r+');
        writeSync(fd, Buffer.from([0xa5 ^ readFileSync(img).subarray(MIB + 12345, MIB + 12346)[0]!]), 0, 1, MIB + 12345);
        closeSync(fd);
      },
    }).then(() => null, (err: unknown) => err);
    expect(flipped).toBe(true);
    expect(e).toBeInstanceOf(VerifyError);
    const v = e as VerifyError;
    expect(v.code).toBe('E_VERIFY');
    expect(v.offset).toBeLessThanOrEqual(MIB + 12345);
    expect(v.offset + v.length).toBeGreaterThan(MIB + 12345);
    expect(v.message).toMatch(/^verification failed at bytes \d+\.\.\d+: expected sha256 [0-9a-f]{16}…, read back [0-9a-f]{16}…$/);
    // Neither the old card's head (0xee) nor the image's: zeros, so nothing boots half-written.
    const head = readFileSync(backing).subarray(0, HEAD);
    expect(head.every((b) => b === 0)).toBe(true);
  });
});

describe('headRanges (what of the first MiB a card gets)', () => {
  const K = 4096;
  it.each([
    ['nothing mapped: the table sectors (64 KiB) only', () => false, [], [[0, 64 * 1024]]],
    ['mapped chunks past the table, merged', (c: number) => c === 20 || c === 21 || c === 100, [], [[0, 64 * 1024], [20 * K, 2 * K], [100 * K, K]]],
    ['chunks the injection wrote count as mapped', () => false, [[200 * K + 10, 5000]], [[0, 64 * 1024], [200 * K, 2 * K]]],
    ['a head shorter than the table (a tiny image)', () => true, [], [[0, 10_000]]],
  ] as Array<[string, (c: number) => boolean, Array<[number, number]>, Array<[number, number]>]>)('%s', (_n, mapped, touched, want) => {
    const len = want.at(-1)![0] + want.at(-1)![1] === 10_000 ? 10_000 : HEAD;
    expect(headRanges(len, mapped, touched)).toEqual(want);
  });
});

describe.skipIf(!isRoot)('the first MiB on a card, with a block map', () => {
  if (!isRoot) console.warn('skip: needs root: loop devices');
  it('the table and the mapped chunks of the first MiB are written, the rest keeps the old card\'s bytes; the card reads clean', async () => {
    const d = dir();
    const img = makeImage(d, { sizeMiB: 96, dataMiB: 2 });
    // A block map that maps everything but [256 KiB, 1 MiB) of the head (bmaptool would skip those too).
    const size = statSync(img).size;
    const blocks = size / 4096;
    const bmap = join(d, 'class.bmap');
    writeFileSync(bmap, `<?xml version="1.0" ?>\n<bmap version="2.0">\n<ImageSize> ${size} </ImageSize>\n<BlockSize> 4096 </BlockSize>\n<BlocksCount> ${blocks} </BlocksCount>\n<MappedBlocksCount> ${blocks - 192} </MappedBlocksCount>\n<ChecksumType> sha256 </ChecksumType>\n<BmapFileChecksum> ${'0'.repeat(64)} </BmapFileChecksum>\n<BlockMap>\n<Range> 0-63 </Range>\n<Range> 256-${blocks - 1} </Range>\n</BlockMap>\n</bmap>\n`);
    const backing = join(d, 'card.img');
    writeFileSync(backing, Buffer.alloc(96 * MIB, 0x5a));
    const loop = attachLoop(backing);
    const r = await burn({ image: img, target: loop, bmap, verify: true, imageSize: size });
    execFileSync('blockdev', ['--flushbufs', loop]);
    const card = readFileSync(backing);
    const image = readFileSync(img);
    expect(card.subarray(0, 256 * 1024).equals(image.subarray(0, 256 * 1024))).toBe(true);
    expect(card.subarray(256 * 1024, MIB).every((b) => b === 0x5a)).toBe(true);
    expect(r.bytesWritten).toBe(size - 768 * 1024);
    const { status, report } = fsckBoot(backing, d);
    expect(status, report).toBe(0);
  });
});
