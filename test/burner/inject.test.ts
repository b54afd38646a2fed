import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { injectManifest, readBackManifest, rehearseInjection, scratchOver } from '../../src/burner/inject.js';
import { FatVolume } from '../../src/burner/fat/volume.js';
import { writeBootFileVia } from '../../src/burner/fat/boot-file.js';
import { readPartitionTable } from '../../src/core/partition-table.js';
import { serializeManifest } from '../../src/manifest/load.js';
import { exampleManifest } from '../helpers/context.js';
import { BOOT_START, makeImage, tempDirs } from './fixtures.js';

const dir = tempDirs('metis-inject-');
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

describe('the injection rehearsed on scratch (while a burn drains)', () => {
  it('scratchOver: reads see the file and every later write over it; the file is never written', async () => {
    const d = dir();
    const img = makeImage(d, { sizeMiB: 96, dataMiB: 2 });
    const before = sha(img);
    const fh = await open(img, 'r');
    try {
      const io = scratchOver(fh);
      await io.write(Buffer.from('abcdef'), 1, 4, 1000);
      await io.write(Buffer.from('XY'), 0, 2, 1002);
      const got = Buffer.alloc(8);
      await io.read(got, 0, 8, 998);
      const file = readFileSync(img).subarray(998, 1006);
      expect(got.toString('latin1')).toBe(`${file.subarray(0, 2).toString('latin1')}bcXY${file.subarray(6, 8).toString('latin1')}`);
      // Past the end of the file: zeros.
      const tail = Buffer.alloc(4, 1);
      await io.read(tail, 0, 4, readFileSync(img).length);
      expect([...tail]).toEqual([0, 0, 0, 0]);
      // The whole injection through the view: the manifest reads back from it, whole.
      const { partitions } = await readPartitionTable(img);
      const text = serializeManifest(exampleManifest());
      await writeBootFileVia(io, partitions, 'metis/node.yaml', Buffer.from(text));
      expect((await (await FatVolume.open(io, BOOT_START * 512)).readFile('metis/node.yaml'))?.toString('utf8')).toBe(text);
    } finally {
      await fh.close();
    }
    expect(sha(img)).toBe(before);
  });

  it('rehearseInjection leaves a raw image as it was; a manifest that does not serialize to a valid one is refused there too', async () => {
    const d = dir();
    const img = makeImage(d, { sizeMiB: 96, dataMiB: 2 });
    const before = sha(img);
    const { partitions } = await readPartitionTable(img);
    await rehearseInjection(img, partitions, exampleManifest());
    await rehearseInjection(null, partitions, exampleManifest());
    expect(sha(img)).toBe(before);
    const bad = { ...exampleManifest(), schemaVersion: 999 } as unknown as ReturnType<typeof exampleManifest>;
    await expect(rehearseInjection(null, partitions, bad)).rejects.toThrow(/schema|version/i);
  });
});

describe('the injection and its read-back', () => {
  it('injectManifest refuses a manifest that does not validate before it writes a byte', async () => {
    const d = dir();
    const img = makeImage(d, { sizeMiB: 96, dataMiB: 2 });
    const { partitions } = await readPartitionTable(img);
    const fh = await open(img, 'r');
    let writes = 0;
    const io = scratchOver(fh);
    const counting = { read: io.read, write: async (...a: Parameters<typeof io.write>) => void (writes++, await io.write(...a)) };
    try {
      const bad = { ...exampleManifest(), schemaVersion: 999 } as unknown as ReturnType<typeof exampleManifest>;
      await expect(injectManifest(counting, partitions, bad)).rejects.toThrow(/schema|version/i);
      expect(writes).toBe(0);
      const text = await injectManifest(counting, partitions, exampleManifest());
      expect(writes).toBeGreaterThan(0);
      expect(text).toBe(serializeManifest(exampleManifest()));
    } finally {
      await fh.close();
    }
  });

  it('readBackManifest passes the exact bytes and refuses a card whose manifest differs by one byte or is missing', async () => {
    const d = dir();
    const img = makeImage(d, { sizeMiB: 96, dataMiB: 2 });
    const { partitions } = await readPartitionTable(img);
    const text = serializeManifest(exampleManifest());
    await expect(readBackManifest(img, text)).rejects.toMatchObject({ code: 'E_MANIFEST_READBACK' });
    const fh = await open(img, 'r+');
    try {
      await writeBootFileVia(fh, partitions, 'metis/node.yaml', Buffer.from(text));
    } finally {
      await fh.close();
    }
    await readBackManifest(img, text);
    const other = text.replace('schemaVersion: 1', 'schemaVersion: 2');
    expect(other).not.toBe(text);
    await expect(readBackManifest(img, other)).rejects.toMatchObject({ code: 'E_MANIFEST_READBACK' });
  });
});
