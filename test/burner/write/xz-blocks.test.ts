import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { burn, HEAD, neededBlocks } from '../../../src/burner/write/burn.js';
import { allocationFromBmap } from '../../../src/core/ranges/allocation.js';
import { CorruptImageError } from '../../../src/burner/write/errors.js';
import { xzIndex } from '../../../src/core/xz-index.js';
import { fsckBoot, makeImage, MIB, oldBootableCard, tempDir } from '../fixtures.js';

// A multi-block .xz (as `xz -T0` writes it) burned with a block map decompresses only the blocks
// holding mapped data. Judged by cmp against the same burn from the raw image, e2fsck and fsck.fat,
// and by the real `bmaptool create` map.
const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).reverse().forEach((c) => c()));

function fixture() {
  const t = tempDir();
  cleanups.push(t.cleanup);
  const img = makeImage(t.dir, { sizeMiB: 160, dataMiB: 8 });
  const bmap = join(t.dir, 'class.bmap');
  execFileSync('bmaptool', ['-q', 'create', '-o', bmap, img]);
  execFileSync('xz', ['-T2', '--block-size=4MiB', '-1', '-k', '-q', img]);
  return { d: t.dir, img, xz: `${img}.xz`, bmap };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Flips one byte of FILE in the middle of the given block's compressed data. */
async function flipIn(file: string, blockNo: number): Promise<void> {
  const b = (await xzIndex(file))!.blocks[blockNo]!;
  const fd = openSync(file, 'r+');
  const at = b.fileOffset + Math.floor(b.fileSize / 2);
  const one = Buffer.alloc(1);
  const buf = readFileSync(file);
  one[0] = buf[at]! ^ 0xff;
  writeSync(fd, one, 0, 1, at);
  closeSync(fd);
}

describe('.xz burned block by block from its block map', () => {
  it('decompresses only the blocks with mapped data; the card is the same as from the raw image, and both filesystems are clean', async () => {
    const { d, img, xz, bmap } = fixture();
    const index = (await xzIndex(xz))!;
    expect(index.blocks.length).toBe(40);
    const fromXz = join(d, 'from-xz.img');
    const r = await burn({ image: xz, target: fromXz, bmap, verify: true });
    expect(r.imageSize).toBe(160 * MIB);
    expect(r.decompressed).toBeLessThan(r.imageSize / 2);
    expect(r.decompressed! % (4 * MIB)).toBe(0);
    // The digest still covers every byte of the file, skipped blocks included.
    expect(r.sha256).toBe(sha(readFileSync(xz)));
    const fromRaw = join(d, 'from-raw.img');
    const raw = await burn({ image: img, target: fromRaw, bmap, verify: true });
    expect(r.bytesWritten).toBe(raw.bytesWritten);
    execFileSync('cmp', [fromXz, fromRaw]);
    execFileSync('e2fsck', ['-fn', `${fromXz}?offset=${(2048 + 131072) * 512}`], { stdio: 'pipe' });
    const { status, report } = fsckBoot(fromXz, d);
    expect(status, report).toBe(0);
  });

  it('a damaged block that holds mapped data fails the burn as a corrupt image and the card does not boot', async () => {
    const { d, xz, bmap } = fixture();
    await flipIn(xz, 0);
    const out = join(d, 'card.img');
    const err = await burn({ image: xz, target: out, bmap, verify: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptImageError);
  });

  it('a damaged block with no mapped data is never decompressed: the whole-file digest still refuses it before the card can boot', async () => {
    const { d, xz, bmap } = fixture();
    const good = sha(readFileSync(xz));
    const index = (await xzIndex(xz))!;
    const { map } = await allocationFromBmap(bmap, index.size);
    const kept = new Set(neededBlocks(index, map));
    const skipped = index.blocks.findIndex((b) => !kept.has(b));
    expect(skipped).toBeGreaterThan(0);
    await flipIn(xz, skipped);
    // The old card booted: its own MBR signature is in place.
    const out = join(d, 'card.img');
    oldBootableCard(out, 160);
    const refused = new Error('sha256 is not the pinned one');
    let seen = '';
    await expect(
      burn({
        image: xz,
        target: out,
        bmap,
        verify: true,
        beforeCommit: ({ sha256 }) => {
          seen = sha256;
          if (sha256 !== good) throw refused;
        },
      }),
    ).rejects.toBe(refused);
    expect(seen).toBe(sha(readFileSync(xz)));
    // Nothing of the card boots: the first MiB (its partition table) is zeros.
    expect(readFileSync(out).subarray(0, HEAD).every((b) => b === 0)).toBe(true);
  });
});
