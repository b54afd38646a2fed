import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layout, writeDisk } from '../../src/image/disk.js';
import { classDiskIds } from '../../src/image/ids.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('skip: needs root: mkfs.ext4 -d keeps root ownership only when run as root');

describe.skipIf(!isRoot)('writeDisk (real mkfs, fsck.fat and debugfs as judges)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'metis-image-disk-'));
    await mkdir(join(dir, 'root/etc'), { recursive: true });
    await mkdir(join(dir, 'root/boot/firmware'), { recursive: true });
    await writeFile(join(dir, 'root/etc/os-release'), 'ID=debian\n');
    await mkdir(join(dir, 'boot/overlays'), { recursive: true });
    await writeFile(join(dir, 'boot/cmdline.txt'), 'root=UUID=x rw\n');
    await writeFile(join(dir, 'boot/overlays/a-long-file-name.dtbo'), 'dtbo');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('MBR with a clean FAT32 holding the boot files and an ext4 root with the tree, at the class ids', async () => {
    const img = join(dir, 'x.img');
    const ids = classDiskIds('unit-test');
    const l = layout(64, 300);
    await writeDisk(img, l, ids, join(dir, 'root'), join(dir, 'boot'), () => {});
    const pt = JSON.parse(execFileSync('sfdisk', ['-J', img], { encoding: 'utf8' })).partitiontable;
    expect(pt.label).toBe('dos');
    expect(pt.partitions.map((p: { type: string; start: number }) => [p.type, p.start])).toEqual([['c', 2048], ['83', l.root.startSector]]);
    const fatOff = l.boot.startSector * 512;
    // fsck.fat has no offset option: judge a copy of the partition's bytes.
    const fat = join(dir, 'fat.bin');
    execFileSync('dd', [`if=${img}`, `of=${fat}`, 'bs=512', `skip=${l.boot.startSector}`, `count=${l.boot.sectors}`, 'status=none']);
    execFileSync('fsck.fat', ['-n', fat]);
    expect(execFileSync('mtype', ['-i', `${img}@@${fatOff}`, '::/overlays/a-long-file-name.dtbo'], { encoding: 'utf8' })).toBe('dtbo');
    const rootOff = l.root.startSector * 512;
    expect(execFileSync('debugfs', ['-R', 'cat /etc/os-release', `${img}?offset=${rootOff}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })).toBe('ID=debian\n');
    const uuid = execFileSync('dumpe2fs', ['-h', `${img}?offset=${rootOff}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(uuid).toContain(`Filesystem UUID:          ${ids.rootUuid}`);
    const vol = execFileSync('minfo', ['-i', `${img}@@${fatOff}`, '::'], { encoding: 'utf8' });
    expect(vol.toLowerCase()).toContain(`serial number: ${ids.bootSerial}`);
  });
});
