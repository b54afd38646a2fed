import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readBootFile, writeBootFile } from '../../../src/burner/fat/boot-file.js';
import { BOOT_SECTORS, BOOT_START, fsckBoot, makeImage, MIB, mtype, tempDirs } from '../fixtures.js';

const dir = tempDirs('metis-fatb-');
const mtools = { ...process.env, MTOOLS_SKIP_CHECK: '1' };

/** A FAT16 boot partition (older images, small cards) at the same place the fixtures use. */
function fat16Image(d: string): string {
  const img = join(d, 'fat16.img');
  execFileSync('truncate', ['-s', `${80 * MIB}`, img]);
  execFileSync('sfdisk', ['-q', img], { input: `label: dos\nstart=${BOOT_START},size=${BOOT_SECTORS},type=e\n` });
  execFileSync('mkfs.vfat', ['-F', '16', '-s', '4', '--offset', String(BOOT_START), img, String(BOOT_SECTORS / 2)], { stdio: 'ignore' });
  return img;
}

function expectClean(img: string, d: string): void {
  const { status, report } = fsckBoot(img, d);
  expect(status, report).toBe(0);
  expect(report).not.toMatch(/differ|lost|invalid|mismatch|wrong|free cluster/i);
}

describe('FAT16 boot partition', () => {
  it('creates nested directories and files, overwrites shorter and longer; fsck.fat clean, mtype exact', async () => {
    const d = dir();
    const img = fat16Image(d);
    const a = Buffer.from('schemaVersion: 1\nhostname: titan-13\n');
    await writeBootFile(img, 'metis/node.yaml', a);
    expect(mtype(img, '/metis/node.yaml').equals(a)).toBe(true);
    // Longer than one cluster (2 KiB) several times over, then shorter again.
    const long = randomBytes(9000);
    await writeBootFile(img, 'metis/node.yaml', long);
    expect(mtype(img, '/metis/node.yaml').equals(long)).toBe(true);
    await writeBootFile(img, 'metis/node.yaml', a);
    expect(mtype(img, '/metis/node.yaml').equals(a)).toBe(true);
    await writeBootFile(img, 'metis/deep/er/Notes about this node.txt', Buffer.from('n\n'));
    expect(mtype(img, '/metis/deep/er/Notes about this node.txt').toString()).toBe('n\n');
    expect((await readBootFile(img, 'METIS/NODE.YAML'))?.equals(a)).toBe(true);
    expectClean(img, d);
  });
});

describe('FAT32 boot partition', () => {
  it('grows a directory over many clusters for many long names (512-byte clusters: 16 slots each)', async () => {
    const d = dir();
    const img = makeImage(d, { sizeMiB: 100, dataMiB: 1 });
    const names = Array.from({ length: 40 }, (_, i) => `overlay number ${i} with a long name.dtbo`);
    for (const n of names) await writeBootFile(img, `overlays/${n}`, Buffer.from(n));
    for (const n of [names[0]!, names[17]!, names[39]!]) expect(mtype(img, `/overlays/${n}`).toString()).toBe(n);
    const listing = execFileSync('mdir', ['-b', '-i', `${img}@@${BOOT_START * 512}`, '::/overlays'], { env: mtools, encoding: 'utf8' });
    expect(listing.split('\n').filter((l) => l.endsWith('.dtbo'))).toHaveLength(40);
    expectClean(img, d);
  });

  it('replaces a file mtools created (short 8.3 entry, as on a real Pi card) and reads files it did not write', async () => {
    const d = dir();
    const img = makeImage(d, { sizeMiB: 100, dataMiB: 1 });
    const cfg = join(d, 'config.txt');
    writeFileSync(cfg, 'arm_64bit=1\n'.repeat(300));
    execFileSync('mcopy', ['-i', `${img}@@${BOOT_START * 512}`, cfg, '::/config.txt'], { env: mtools });
    expect((await readBootFile(img, 'config.txt'))?.toString()).toBe('arm_64bit=1\n'.repeat(300));
    await writeBootFile(img, 'config.txt', Buffer.from('arm_64bit=1\nenable_uart=1\n'));
    expect(mtype(img, '/config.txt').toString()).toBe('arm_64bit=1\nenable_uart=1\n');
    expectClean(img, d);
  });

  it('refuses a file that does not fit and leaves the partition clean', async () => {
    const d = dir();
    const img = fat16Image(d);
    await expect(writeBootFile(img, 'huge.bin', Buffer.alloc(70 * MIB, 1))).rejects.toMatchObject({ code: 'E_FAT_FULL' });
    expectClean(img, d);
  });

  it('refuses bad names and a path through a file', async () => {
    const d = dir();
    const img = fat16Image(d);
    await writeBootFile(img, 'metis', Buffer.from('x'));
    await expect(writeBootFile(img, 'metis/node.yaml', Buffer.from('y'))).rejects.toMatchObject({ code: 'E_FAT_NOTDIR' });
    await expect(writeBootFile(img, 'a:b.txt', Buffer.from('y'))).rejects.toMatchObject({ code: 'E_FAT_NAME' });
    expectClean(img, d);
  });
});

describe('FatVolume.openForRead (a burn\'s read-back)', () => {
  it('reads a file behind a 16 MiB one with a few KiB of each FAT copy, not the whole copies; refuses to write', async () => {
    const { open } = await import('node:fs/promises');
    const { FatVolume } = await import('../../../src/burner/fat/volume.js');
    const d = dir();
    const img = makeImage(d, { sizeMiB: 96, dataMiB: 2 });
    const big = join(d, 'big.bin');
    writeFileSync(big, randomBytes(16 * MIB));
    execFileSync('mcopy', ['-i', `${img}@@${BOOT_START * 512}`, big, '::/firmware.bin'], { env: mtools });
    const text = Buffer.from('schemaVersion: 1\nhostname: titan-13\n');
    await writeBootFile(img, 'metis/node.yaml', text);
    const fh = await open(img, 'r');
    try {
      let bytes = 0;
      const io = { read: (b: Buffer, o: number, l: number, p: number) => ((bytes += l), fh.read(b, o, l, p)), write: () => Promise.reject(new Error('no writes')) };
      const lazy = await FatVolume.openForRead(io, BOOT_START * 512);
      expect((await lazy.readFile('metis/node.yaml'))?.equals(text)).toBe(true);
      const lazyBytes = bytes;
      // A long chain crosses many FAT sectors, each read once per copy.
      expect((await lazy.readFile('firmware.bin'))?.equals(readFileSync(big))).toBe(true);
      bytes = 0;
      await (await FatVolume.open(io, BOOT_START * 512)).readFile('metis/node.yaml');
      // Whole copies: 2 × the FAT (≈ 505 KiB each on this 64 MiB FAT32); on demand: the runs the chains cross.
      expect(bytes).toBeGreaterThan(1000 * 1024);
      expect(lazyBytes).toBeLessThan(64 * 1024);
      expect(await readBootFile(img, 'metis/node.yaml')).toEqual(text);
      await expect(lazy.writeFile('x.txt', text)).rejects.toMatchObject({ code: 'E_FAT_READ_ONLY' });
    } finally {
      await fh.close();
    }
  });
});
