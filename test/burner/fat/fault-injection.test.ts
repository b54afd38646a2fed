import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { FatVolume } from '../../../src/burner/fat/volume.js';
import { tempDirs } from '../fixtures.js';
import { FaultyIo, fatImage, judges, onlyLeaks, usedClusters } from './fat-image.js';

const dir = tempDirs('metis-fatfi-');
const PATH = 'metis/node.yaml';
const text = (n: number, tag: string) => Buffer.from(`schemaVersion: 1\n# ${tag}\n${'k: v\n'.repeat(Math.ceil(n / 5))}`.slice(0, n));

/** The manifest before and after: none → new, and replacements larger, smaller, the same size. */
const scenarios: Array<{ name: string; old: Buffer | null; next: Buffer }> = [
  { name: 'create (directory too)', old: null, next: text(1500, 'new') },
  { name: 'replace with larger', old: text(700, 'old'), next: text(3000, 'new') },
  { name: 'replace with smaller', old: text(3000, 'old'), next: text(300, 'new') },
  { name: 'replace with same size', old: text(1500, 'old'), next: text(1500, 'new') },
];

async function write(io: FaultyIo, path: string, data: Buffer): Promise<FaultyIo> {
  await (await FatVolume.open(io, 0)).writeFile(path, data);
  return io;
}

const counts = { runs: 0, old: 0, new: 0, missing: 0 };
afterAll(() => console.log(`FAT fault injection: ${counts.runs} faulted writes; left the old file ${counts.old}×, the new ${counts.new}×, neither ${counts.missing}× (create only)`));

describe.each(['fat32', 'fat16'] as const)('a fault at every write of the manifest injection (%s)', (kind) => {
  it.each(scenarios)('$name: old or new byte-exact after any fault, fsck sees at most leaks, the next write reclaims them', async ({ old, next }) => {
    const d = dir();
    const base = fatImage(d, kind);
    const judge = judges(d, base);
    const start = new FaultyIo(base);
    await write(start, 'config.txt', Buffer.from('arm_64bit=1\n'));
    if (old) await write(start, PATH, old);
    // The clean outcome: what a successful write leaves (used clusters), and how many writes it takes.
    const clean = await write(start.fork(), PATH, next);
    const total = clean.writes;
    const cleanUsed = usedClusters(judge(clean, []).fsck);
    expect(total).toBeGreaterThan(3);

    for (let n = 1; n <= total; n++) {
      const io = start.fork({ faultAt: n });
      await expect(write(io, PATH, next), `fault at write ${n} of ${total} went unnoticed`).rejects.toThrow(/injected fault/);
      counts.runs++;
      const where = `${kind}, fault at write ${n}/${total}`;
      const after = judge(io, ['/' + PATH, '/config.txt']);
      const [content, config] = after.content;
      const isOld = old ? content?.equals(old) : content === null;
      const isNew = content?.equals(next);
      expect(isOld || isNew, `${where}: manifest is ${content === null ? 'missing' : 'neither old nor new'}`).toBe(true);
      if (isNew) counts.new++;
      else if (content) counts.old++;
      else counts.missing++;
      expect(onlyLeaks(after.fsck), `${where}: fsck.fat found more than leaks:\n${after.fsck}`).toEqual([]);
      expect(config?.toString(), where).toBe('arm_64bit=1\n');

      // The next write (no fault) reclaims whatever the cut left behind.
      const healed = await write(io.fork(), PATH, next);
      const h = judge(healed, ['/' + PATH]);
      expect(h.content[0]?.equals(next), where).toBe(true);
      expect(h.fsckStatus, `${where}: after the next write\n${h.fsck}`).toBe(0);
      expect(h.fsck).not.toMatch(/differ|reclaim|wrong|orphan/i);
      expect(usedClusters(h.fsck), `${where}: clusters leaked for good`).toBe(cleanUsed);
    }
  }, 180_000);
});

describe('space and FAT copies', () => {
  it('a full partition refuses before the first write: the old manifest stays, byte-exact', async () => {
    const d = dir();
    const base = fatImage(d, 'fat16');
    const judge = judges(d, base);
    const io = new FaultyIo(base);
    const old = text(1500, 'old');
    await write(io, PATH, old);
    const r = judge(io, []).fsck;
    const m = /(\d+)\/(\d+) clusters/.exec(r)!;
    await write(io, 'filler.bin', randomBytes((Number(m[2]) - Number(m[1]) - 2) * 512));
    const before = io.writes;
    await expect(write(io, PATH, text(4000, 'new'))).rejects.toMatchObject({ code: 'E_FAT_FULL', message: expect.stringMatching(/nothing was changed/) });
    expect(io.writes).toBe(before);
    const after = judge(io, ['/' + PATH]);
    expect(after.content[0]?.equals(old)).toBe(true);
    expect(after.fsckStatus, after.fsck).toBe(0);
  });

  it('a lost write to FAT #2 is found when the file is read back through every copy, and the next write heals it', async () => {
    const d = dir();
    const base = fatImage(d, 'fat32');
    const judge = judges(d, base);
    const layout = (await FatVolume.open(new FaultyIo(base), 0)) as unknown as { l: { reserved: number; fatSectors: number; bps: number } };
    const { reserved, fatSectors, bps } = layout.l;
    const fat2 = [(reserved + fatSectors) * bps, (reserved + 2 * fatSectors) * bps] as const;
    const data = text(3000, 'new');
    const lossy = await write(new FaultyIo(base, { lose: (pos) => pos >= fat2[0] && pos < fat2[1] }), PATH, data);
    expect(judge(lossy, []).fsck).toMatch(/FATs differ/);
    const io = lossy.fork();
    await expect((await FatVolume.open(io, 0)).readFile(PATH)).rejects.toMatchObject({ code: 'E_FAT_COPIES', message: expect.stringMatching(/FAT copy #2/) });
    // The same when the copies are read only where the chains go (a burn's read-back).
    await expect((await FatVolume.openForRead(io, 0)).readFile(PATH)).rejects.toMatchObject({ code: 'E_FAT_COPIES', message: expect.stringMatching(/FAT copy #2/) });
    await write(io, PATH, data);
    expect((await (await FatVolume.open(io, 0)).readFile(PATH))?.equals(data)).toBe(true);
    expect((await (await FatVolume.openForRead(io, 0)).readFile(PATH))?.equals(data)).toBe(true);
    const healed = judge(io, []);
    expect(healed.fsckStatus, healed.fsck).toBe(0);
  });
});
