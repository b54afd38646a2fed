import { open } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readPartitionTable } from '../../src/core/partition-table.js';
import { makeImage, tempDirs } from '../burner/fixtures.js';

const dir = tempDirs('metis-ptable-');

describe('readPartitionTable', () => {
  it.each(['dos', 'gpt'] as const)('reads a %s table the same from a path and from a handle open on it', async (label) => {
    const img = makeImage(dir(), { sizeMiB: 100, dataMiB: 1, label });
    const byPath = await readPartitionTable(img);
    expect(byPath.kind).toBe(label === 'dos' ? 'mbr' : 'gpt');
    expect(byPath.partitions.map((p) => p.offset)).toEqual([1 << 20, 65 << 20]);
    const fh = await open(img, 'r');
    try {
      expect(await readPartitionTable(fh, img)).toEqual(byPath);
      // The handle stays the caller's: still open and readable afterwards.
      const { bytesRead } = await fh.read(Buffer.alloc(512), 0, 512, 0);
      expect(bytesRead).toBe(512);
    } finally {
      await fh.close();
    }
  });

  it.each([
    ['a path', false, 'blank.img: no MBR or GPT partition table found'],
    ['a handle', true, 'blank.img: no MBR or GPT partition table found'],
  ])('refuses a disk without a table, read through %s, naming it', async (_what, viaHandle, message) => {
    const img = join(dir(), 'blank.img');
    writeFileSync(img, Buffer.alloc(1 << 20));
    const fh = viaHandle ? await open(img, 'r') : undefined;
    try {
      const err = await readPartitionTable(fh ?? img, fh ? img : undefined).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'E_NO_PARTITION_TABLE' });
      expect((err as Error).message).toContain(message);
    } finally {
      await fh?.close();
    }
  });
});
