import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { baseDisks, deviceBytes, loopBackings } from '../../../src/burner/safety/block-sysfs.js';
import { isRoot, tempDir } from '../fixtures.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

/** A sysfs shaped like the kernel's: /sys/dev/block/MAJ:MIN links into /sys/devices, slaves/ links too. */
function fakeSys(): { sys: string; dev: (devPath: string, devno: string, partition?: number) => void; slave: (holder: string, slave: string) => void } {
  const t = tempDir('metis-sysfsb-');
  cleanups.push(t.cleanup);
  const sys = t.dir;
  mkdirSync(join(sys, 'dev/block'), { recursive: true });
  const link = (target: string, at: string) => {
    mkdirSync(dirname(at), { recursive: true });
    symlinkSync(relative(dirname(at), target), at);
  };
  return {
    sys,
    dev(devPath, devno, partition) {
      const d = join(sys, 'devices', devPath);
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, 'dev'), `${devno}\n`);
      if (partition !== undefined) writeFileSync(join(d, 'partition'), `${partition}\n`);
      link(d, join(sys, 'dev/block', devno));
    },
    slave(holder, slave) {
      link(join(sys, 'devices', slave), join(sys, 'devices', holder, 'slaves', slave.split('/').at(-1)!));
    },
  };
}

describe('baseDisks', () => {
  it.each([
    ['a whole disk', '8:0', ['sda']],
    ['a partition', '8:2', ['sda']],
    ['LVM on a partition', '254:0', ['sda']],
    ['dm-crypt on LVM on a partition', '254:1', ['sda']],
    ['RAID1 over two disks', '9:0', ['sdb', 'sdc']],
    ['an unknown device number (tmpfs, overlay)', '0:27', []],
  ])('%s', async (_label, devno, disks) => {
    const f = fakeSys();
    f.dev('pci0/block/sda', '8:0');
    f.dev('pci0/block/sda/sda2', '8:2', 2);
    f.dev('pci0/block/sdb', '8:16');
    f.dev('pci0/block/sdb/sdb1', '8:17', 1);
    f.dev('pci0/block/sdc', '8:32');
    f.dev('pci0/block/sdc/sdc1', '8:33', 1);
    f.dev('virtual/block/dm-0', '254:0');
    f.slave('virtual/block/dm-0', 'pci0/block/sda/sda2');
    f.dev('virtual/block/dm-1', '254:1');
    f.slave('virtual/block/dm-1', 'virtual/block/dm-0');
    f.dev('virtual/block/md0', '9:0');
    f.slave('virtual/block/md0', 'pci0/block/sdb/sdb1');
    f.slave('virtual/block/md0', 'pci0/block/sdc/sdc1');
    expect((await baseDisks(devno, f.sys)).sort()).toEqual(disks);
  });

  it('on this machine, resolves / to a real block device of /sys/class/block', async () => {
    const { readFileSync } = await import('node:fs');
    const root = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')).find((x) => x[4] === '/')!;
    const disks = await baseDisks(root[2]!);
    if (disks.length === 0) console.warn(`skip: / is on ${root[2]}, not a block device (container overlay)`);
    for (const d of disks) expect(readFileSync(`/sys/class/block/${d}/dev`, 'utf8')).toMatch(/^\d+:\d+/);
  });
});

describe.skipIf(!isRoot)('deviceBytes and loopBackings on a loop device', () => {
  if (!isRoot) console.warn('skip: needs root: loop devices');
  it('deviceBytes is what blockdev --getsize64 says; loopBackings lists the loop with its file', async () => {
    const t = tempDir('metis-sysfsl-');
    cleanups.push(t.cleanup);
    const file = join(t.dir, 'card.img');
    writeFileSync(file, Buffer.alloc(3 * 1024 * 1024 + 512));
    const dev = execFileSync('losetup', ['-f', '--show', '--sizelimit', String(3 * 1024 * 1024), file], { encoding: 'utf8' }).trim();
    cleanups.push(() => execFileSync('losetup', ['-d', dev]));
    expect(await deviceBytes(dev)).toBe(Number(execFileSync('blockdev', ['--getsize64', dev], { encoding: 'utf8' })));
    expect(await deviceBytes(dev)).toBe(3 * 1024 * 1024);
    expect(await loopBackings()).toContainEqual({ disk: dev.replace('/dev/', ''), file });
  });
});
