import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { readBootFile, writeBootFile } from '../../../src/burner/fat/boot-file.js';
import { fsckBoot, isRoot, makeImage, mtype, tempDir } from '../fixtures.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

describe('boot partition files (no mounting)', () => {
  it.each(['dos', 'gpt'] as const)('writes metis/node.yaml into the FAT32 partition of a %s image; fsck.fat and mtools agree', async (label) => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const img = makeImage(t.dir, { sizeMiB: 100, dataMiB: 1, label });
    const long = Buffer.from('schemaVersion: 1\n' + 'x: '.padEnd(5000, 'y') + '\n');
    await writeBootFile(img, 'metis/node.yaml', long);
    expect(mtype(img, '/metis/node.yaml').equals(long)).toBe(true);
    // Overwrite with a shorter file: no tail of the old one survives.
    const short = Buffer.from('schemaVersion: 1\n');
    await writeBootFile(img, 'metis/node.yaml', short);
    expect(mtype(img, '/metis/node.yaml').equals(short)).toBe(true);
    expect((await readBootFile(img, 'metis/node.yaml'))?.equals(short)).toBe(true);
    await writeBootFile(img, 'metis/A Long Name For Notes.txt', Buffer.from('lfn\n'));
    expect(mtype(img, '/metis/A Long Name For Notes.txt').toString()).toBe('lfn\n');
    expect(await readBootFile(img, 'metis/missing.yaml')).toBeNull();
    const { status, report } = fsckBoot(img, t.dir);
    expect(report).not.toMatch(/differ|lost|invalid|mismatch|wrong/i);
    expect(status, report).toBe(0);
  });
});

describe.skipIf(!isRoot)('readBootFile on a card (a loop device)', () => {
  if (!isRoot) console.warn('skip: needs root: loop devices');

  it('direct: reads what the card holds, where a buffered read finds the page cache (another opener keeps it)', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const img = makeImage(t.dir, { sizeMiB: 100, dataMiB: 1 });
    const before = Buffer.from('schemaVersion: 1\nnote: before\n');
    const after = Buffer.from('schemaVersion: 1\nnote: AFTER!\n');
    await writeBootFile(img, 'metis/node.yaml', before);
    const dev = execFileSync('losetup', ['-f', '--show', img], { encoding: 'utf8' }).trim();
    cleanups.push(() => execFileSync('losetup', ['-d', dev]));
    // Another opener (udev's probe, say) holds the card: no close is the last, the cache stays.
    const held = openSync(dev, 'r');
    try {
      expect((await readBootFile(dev, 'metis/node.yaml'))?.equals(before)).toBe(true);
      readSync(held, Buffer.alloc(4096), 0, 4096, 0);
      // The card changes behind the cache: through the backing file, same length, same clusters.
      await writeBootFile(img, 'metis/node.yaml', after);
      // The control: a buffered read still finds the cached bytes, else this test proves nothing.
      expect((await readBootFile(dev, 'metis/node.yaml'))?.equals(before)).toBe(true);
      expect((await readBootFile(dev, 'metis/node.yaml', { direct: true }))?.equals(after)).toBe(true);
      expect(await readBootFile(dev, 'metis/missing.yaml', { direct: true })).toBeNull();
    } finally {
      closeSync(held);
    }
  });
});
