import { afterEach, describe, expect, it } from 'vitest';
import { readBootFile, writeBootFile } from '../../../src/burner/fat/boot-file.js';
import { fsckBoot, makeImage, mtype, tempDir } from '../fixtures.js';

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
