import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fat32Geometry, FAT32_MIN_CLUSTERS } from '../../src/demo/fat32.js';
import { demoLayout, makeDemoImage } from '../../src/demo/image.js';
import { readBootFile, writeBootFile } from '../../src/burner/fat/boot-file.js';
import { readPartitionTable } from '../../src/core/partition-table.js';
import { BOOT_SECTORS, BOOT_START, fsckBoot, mtype, tempDir } from '../burner/fixtures.js';

const have = (cmd: string) => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).error === undefined;
const judges = have('fsck.fat') && have('mdir');
if (!judges) console.warn('skip: fsck.fat/mtools missing (dosfstools, mtools): the independent FAT judges');
const t = tempDir('metis-burnerA-demo-');
afterAll(() => t.cleanup());

describe('FAT32 geometry', () => {
  it('64 MiB gives a FAT32-sized cluster count; 32 MiB is refused', () => {
    const g = fat32Geometry(131072);
    expect(g.clusters).toBeGreaterThanOrEqual(FAT32_MIN_CLUSTERS);
    // Every cluster has a FAT entry (plus the two reserved ones).
    expect(g.fatSectors * 128).toBeGreaterThanOrEqual(g.clusters + 2);
    expect(() => fat32Geometry(65536)).toThrow(/at least 65525 clusters/);
  });
  it('the demo layout matches the class image layout (boot at 1 MiB, 64 MiB)', () => {
    expect(demoLayout()).toMatchObject({ bootStart: BOOT_START, bootSectors: BOOT_SECTORS });
  });
});

describe.skipIf(!judges)('demo image with our own FAT32 formatter', () => {
  const img = join(t.dir, 'demo.img');
  it('is an MBR disk whose FAT32 passes fsck.fat -n and whose ext4 passes e2fsck -n', async () => {
    const r = await makeDemoImage(img, t.dir, { fat: 'own' });
    expect(r.fat).toBe('own');
    const table = await readPartitionTable(img);
    expect(table.kind).toBe('mbr');
    expect(table.partitions.map((p) => [p.offset, p.size])).toEqual([
      [BOOT_START * 512, BOOT_SECTORS * 512],
      [r.layout.rootStart * 512, r.layout.rootSectors * 512],
    ]);
    const fsck = fsckBoot(img, t.dir);
    expect(fsck.report).toMatch(/FAT32|clusters/i);
    expect(fsck.status, fsck.report).toBe(0);
    const mdir = execFileSync('mdir', ['-i', `${img}@@${BOOT_START * 512}`, '::'], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' }, encoding: 'utf8' });
    expect(mdir).toMatch(/Volume in drive : is BOOT/);
    const root = join(t.dir, 'root.part');
    execFileSync('dd', [`if=${img}`, `of=${root}`, 'bs=512', `skip=${r.layout.rootStart}`, `count=${r.layout.rootSectors}`, 'status=none']);
    expect(spawnSync('e2fsck', ['-fn', root]).status).toBe(0);
    expect(execFileSync('debugfs', ['-R', 'cat /etc/os-release', root], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })).toMatch(/Metis demo/);
  });

  it('takes a long-named file written without mounting; fsck.fat stays clean and mtype reads the bytes', async () => {
    const data = Buffer.from('hostname: titan-13\n'.repeat(40));
    await writeBootFile(img, 'metis/node.yaml', data);
    await writeBootFile(img, 'metis/a-rather-long-file-name.yaml', Buffer.from('x\n'));
    expect(mtype(img, 'metis/node.yaml').equals(data)).toBe(true);
    expect((await readBootFile(img, 'metis/node.yaml'))?.equals(data)).toBe(true);
    const fsck = fsckBoot(img, t.dir);
    expect(fsck.status, fsck.report).toBe(0);
  });
});
