import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, open, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extSize, mountDevice, rootDisk } from '../../../src/bootstrap/facts/root-disk.js';

const MIB = 1024 * 1024;

describe('mountDevice (mountinfo field 3)', () => {
  const info = '22 1 254:2 / / rw,relatime shared:1 - ext4 /dev/vda2 rw\n23 22 0:21 / /proc rw - proc proc rw\n';
  it.each([
    ['/', '254:2'],
    ['/proc', '0:21'],
    ['/srv', null],
  ])('%s → %s', (m, want) => expect(mountDevice(info, m)).toBe(want));
});

describe('root disk facts from a /proc, /sys and /dev tree (real ext4 superblocks from mkfs)', () => {
  let t: string;
  beforeAll(async () => {
    t = await mkdtemp(join(tmpdir(), 'metis-rootdisk-'));
  });
  afterAll(() => rm(t, { recursive: true, force: true }));

  it.each([
    ['64bit', ['-O', '64bit'], 96],
    ['32-bit block counts', ['-O', '^64bit'], 40],
  ])('extSize reads %s', async (_, opts, mib) => {
    const f = join(t, `fs-${mib}.img`);
    execFileSync('mkfs.ext4', ['-q', '-F', ...opts, f, `${mib}M`]);
    const fh = await open(f, 'r');
    const sb = Buffer.alloc(1024);
    await fh.read(sb, 0, 1024, 1024);
    await fh.close();
    expect(extSize(sb)).toBe(mib * MIB);
  });

  it('extSize: not ext → null', () => expect(extSize(Buffer.alloc(1024))).toBeNull());

  async function tree(name: string, opts: { gpt: boolean; second?: boolean }) {
    const r = join(t, name);
    const blk = join(r, 'sys/devices/virtual/block/vda');
    const put = async (p: string, v: string | number) => {
      await mkdir(join(p, '..'), { recursive: true });
      await writeFile(p, `${v}\n`);
    };
    await put(join(blk, 'size'), (4096 * MIB) / 512);
    await put(join(blk, 'vda1/partition'), 1);
    await put(join(blk, 'vda1/start'), 2048);
    await put(join(blk, 'vda2/partition'), 2);
    await put(join(blk, 'vda2/start'), 264192);
    await put(join(blk, 'vda2/size'), (512 * MIB) / 512);
    if (opts.second) {
      await put(join(blk, 'vda3/partition'), 3);
      await put(join(blk, 'vda3/start'), 2000000);
    }
    await mkdir(join(r, 'sys/dev/block'), { recursive: true });
    await symlink('../../devices/virtual/block/vda/vda2', join(r, 'sys/dev/block/254:2'));
    await put(join(r, 'proc/self/mountinfo'), '22 1 254:2 / / rw,relatime shared:1 - ext4 /dev/vda2 rw');
    await mkdir(join(r, 'dev'));
    const disk = Buffer.alloc(1024);
    if (opts.gpt) disk.write('EFI PART', 512, 'latin1');
    await writeFile(join(r, 'dev/vda'), disk);
    execFileSync('mkfs.ext4', ['-q', '-F', join(r, 'dev/vda2'), '300M']);
    return r;
  }

  it('finds the partition, its disk, the table kind and the filesystem size', async () => {
    const r = await tree('mbr', { gpt: false });
    expect(await rootDisk('/', join(r, 'sys'), join(r, 'proc'), join(r, 'dev'))).toEqual({
      partDev: `${r}/dev/vda2`,
      diskDev: `${r}/dev/vda`,
      partNumber: 2,
      partStart: 264192 * 512,
      partSize: 512 * MIB,
      diskSize: 4096 * MIB,
      followedBy: null,
      table: 'mbr',
      fsSize: 300 * MIB,
    });
  });

  it('GPT, and a partition after the root is named', async () => {
    const r = await tree('gpt', { gpt: true, second: true });
    const d = await rootDisk('/', join(r, 'sys'), join(r, 'proc'), join(r, 'dev'));
    expect(d).toMatchObject({ table: 'gpt', followedBy: `${r}/dev/vda3` });
  });

  it('a root that is not on a partition → null', async () => {
    const r = await tree('nopart', { gpt: false });
    await writeFile(join(r, 'proc/self/mountinfo'), '22 1 0:31 / / rw - overlay overlay rw\n');
    expect(await rootDisk('/', join(r, 'sys'), join(r, 'proc'), join(r, 'dev'))).toBeNull();
  });
});
