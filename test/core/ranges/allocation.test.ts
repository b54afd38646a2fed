import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { allocationFromBmap, allocationOf } from '../../../src/core/ranges/allocation.js';
import { CHUNK, ChunkMap } from '../../../src/core/ranges/chunk-map.js';
import { MIB, tempDirs } from '../../burner/fixtures.js';

const dir = tempDirs('metis-rangesb-');
const run = (cmd: string, args: string[], input?: string) => execFileSync(cmd, args, { input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });

/** Chunks holding any non-zero byte: a fresh image's free space is zero, so these must all be marked. */
function nonZeroChunks(img: string, size: number): number[] {
  const fd = openSync(img, 'r');
  const buf = Buffer.alloc(CHUNK);
  const out: number[] = [];
  try {
    for (let i = 0; i * CHUNK < size; i++) {
      const n = readSync(fd, buf, 0, CHUNK, i * CHUNK);
      if (buf.subarray(0, n).some((b) => b !== 0)) out.push(i);
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

function expectCovers(map: ChunkMap, img: string, size: number): void {
  const missing = nonZeroChunks(img, size).filter((c) => !map.has(c));
  expect(missing.map((c) => c * CHUNK), 'non-zero bytes the burner would skip').toEqual([]);
}

function rootfs(d: string, dataMiB: number): string {
  const r = join(d, 'rootfs');
  mkdirSync(join(r, 'etc'), { recursive: true });
  writeFileSync(join(r, 'etc/hostname'), 'golden\n');
  for (let i = 0; i < 3; i++) writeFileSync(join(r, `data${i}.bin`), randomBytes((dataMiB * MIB) / 3));
  return r;
}

/** MBR image: FAT at 1 MiB (64 MiB), ext4 after it; extra mkfs.ext4 options vary the layout. */
function image(d: string, sizeMiB: number, ext4Opts: string[], label: 'dos' | 'gpt' = 'dos'): string {
  const img = join(d, 'img');
  run('truncate', ['-s', `${sizeMiB}M`, img]);
  const fatType = label === 'gpt' ? 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B' : 'c';
  const linType = label === 'gpt' ? '0FC63DAF-8483-4772-8E79-3D69D8477DE4' : '83';
  run('sfdisk', ['-q', img], `label: ${label}\nstart=2048,size=131072,type=${fatType}\nstart=133120,size=${(sizeMiB - 66) * 2048},type=${linType}\n`);
  run('mkfs.vfat', ['-F', '32', '-s', '1', '--offset', '2048', img, '65536']);
  writeFileSync(join(d, 'cmdline.txt'), 'console=serial0 root=PARTUUID=x\n');
  writeFileSync(join(d, 'kernel.img'), randomBytes(3 * MIB));
  run('mcopy', ['-i', `${img}@@${2048 * 512}`, join(d, 'cmdline.txt'), join(d, 'kernel.img'), '::/'], undefined);
  run('mkfs.ext4', ['-q', '-F', ...ext4Opts, '-E', `offset=${133120 * 512}`, '-d', rootfs(d, 6), img, `${(sizeMiB - 66) * 1024}k`]);
  return img;
}

describe('allocationOf (image filesystems judge what must be written)', () => {
  it.each([
    ['ext4 defaults (flex_bg, uninit groups)', []],
    ['ext4 1 KiB blocks, no flex_bg (many groups, per-group metadata)', ['-b', '1024', '-O', '^flex_bg']],
    ['ext4 64bit, 4 KiB blocks', ['-O', '64bit']],
    ['ext2 (no extents, no checksums)', ['-t', 'ext2']],
  ])('%s: every non-zero chunk is marked, and far from the whole image', async (_label, opts) => {
    const d = dir();
    const size = 300 * MIB;
    const img = image(d, 300, opts as string[]);
    const { map, notes } = await allocationOf(img, size);
    expectCovers(map, img, size);
    expect(notes).toEqual(['mbr', 'p1 fat32', 'p2 ext']);
    // 6 MiB root data + 3 MiB boot file + metadata.
    expect(map.markedBytes).toBeGreaterThan(9 * MIB);
    expect(map.markedBytes).toBeLessThan(60 * MIB);
  });

  it('skips free ext4 blocks that still hold old bytes (bitmap, not zero detection)', async () => {
    const d = dir();
    const size = 200 * MIB;
    const img = image(d, 200, []);
    const before = (await allocationOf(img, size)).map.markedBytes;
    run('debugfs', ['-w', '-R', 'rm /data0.bin', `${img}?offset=${133120 * 512}`]);
    const after = await allocationOf(img, size);
    // The deleted file's 2 MiB are still non-zero in the image but no longer needed.
    expect(before - after.map.markedBytes).toBeGreaterThanOrEqual(2 * MIB - 2 * CHUNK);
  });

  it('GPT: the backup header at the end of the image is written', async () => {
    const d = dir();
    const size = 200 * MIB;
    const img = image(d, 200, [], 'gpt');
    const { map, notes } = await allocationOf(img, size);
    expect(notes[0]).toBe('gpt');
    expectCovers(map, img, size);
    expect(map.has(Math.floor((size - 512) / CHUNK))).toBe(true);
  });

  it('writes an unknown partition and non-zero gaps whole', async () => {
    const d = dir();
    const img = join(d, 'img');
    const size = 64 * MIB;
    run('truncate', ['-s', `${size}`, img]);
    run('sfdisk', ['-q', img], 'label: dos\nstart=4096,size=20480,type=da\n');
    const fd = openSync(img, 'r+');
    writeSync(fd, randomBytes(4096), 0, 4096, 30 * MIB); // between partition end (12 MiB) and image end
    closeSync(fd);
    const { map, notes } = await allocationOf(img, size);
    expect(notes).toEqual(['mbr', 'p1 unknown (whole partition)']);
    expect(map.markedBytes).toBe(size);
  });

  it('an image with no partition table is written whole', async () => {
    const d = dir();
    const img = join(d, 'raw');
    writeFileSync(img, randomBytes(3 * CHUNK));
    const { map } = await allocationOf(img, 3 * CHUNK);
    expect(map.markedBytes).toBe(3 * CHUNK);
  });
});

describe('allocationFromBmap', () => {
  const bmap = (body: string) => `<?xml version="1.0" ?>\n<bmap version="2.0">\n${body}\n</bmap>\n`;
  it('marks each range (inclusive, in blocks) and single-block ranges, exactly (4 KiB chunks: no rounding up)', async () => {
    const d = dir();
    const f = join(d, 'x.bmap');
    writeFileSync(f, bmap(`<ImageSize> ${8 * MIB} </ImageSize><BlockSize> 4096 </BlockSize><BlocksCount>2048</BlocksCount><BlockMap>\n<Range chksum="ab"> 0-15 </Range>\n<Range chksum="cd"> 512 </Range>\n</BlockMap>`));
    const { map } = await allocationFromBmap(f, 8 * MIB);
    expect(CHUNK).toBe(4096);
    expect(map.runs()).toEqual([[0, 16 * 4096], [2 * MIB, 4096]]);
    expect(map.markedBytes).toBe(17 * 4096);
  });
  it.each([
    ['no BlockSize', '<ImageSize>1024</ImageSize>', 'BlockSize'],
    ['another image size', '<ImageSize>999</ImageSize><BlockSize>4096</BlockSize>', 'ImageSize'],
  ])('%s is refused, naming the field', async (_l, body, field) => {
    const d = dir();
    const f = join(d, 'x.bmap');
    writeFileSync(f, bmap(body));
    await expect(allocationFromBmap(f, 1024)).rejects.toMatchObject({ code: 'E_BMAP', path: field, file: f });
  });
});
