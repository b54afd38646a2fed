import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listDevices, parseLsblk } from '../../src/burner/devices.js';
import { isRoot, MIB, tempDir } from './fixtures.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).reverse().forEach((c) => c()));

const lsblk = (devs: unknown[]) => JSON.stringify({ blockdevices: devs });
const disk = (over: Record<string, unknown>) => ({ name: 'x', path: '/dev/x', size: 8 * 2 ** 30, model: null, rm: false, tran: null, type: 'disk', mountpoints: [null], ro: false, ...over });

describe('parseLsblk', () => {
  it('sorts a USB card reader first, a system disk last, and folds partition mounts into their disk', () => {
    const list = parseLsblk(lsblk([
      disk({ name: 'nvme0n1', path: '/dev/nvme0n1', tran: 'nvme', model: 'Samsung SSD 980 ', children: [
        { name: 'nvme0n1p1', path: '/dev/nvme0n1p1', type: 'part', mountpoints: ['/boot/efi'] },
        { name: 'nvme0n1p2', path: '/dev/nvme0n1p2', type: 'part', mountpoints: ['/'] },
      ] }),
      disk({ name: 'sdb', path: '/dev/sdb', tran: 'usb', rm: true, model: 'STORAGE DEVICE', children: [
        { name: 'sdb1', path: '/dev/sdb1', type: 'part', mountpoints: ['/media/op/boot'] },
      ] }),
      disk({ name: 'sda', path: '/dev/sda', tran: 'sata', model: 'WDC' }),
    ]));
    expect(list.map((d) => d.path)).toEqual(['/dev/sdb', '/dev/sda', '/dev/nvme0n1']);
    expect(list[0]).toEqual({ path: '/dev/sdb', model: 'STORAGE DEVICE', size: 8 * 2 ** 30, removable: true, transport: 'usb', mounts: ['/media/op/boot'], system: false, readOnly: false });
    expect(list[2]).toMatchObject({ model: 'Samsung SSD 980', system: true, mounts: ['/boot/efi', '/'] });
  });

  it.each([
    ['a swap partition', { children: [{ name: 'sdc2', type: 'part', mountpoints: ['[SWAP]'] }] }, true],
    ['/boot alone', { mountpoints: ['/boot'] }, true],
    ['a data mount', { mountpoints: ['/srv'] }, false],
  ])('marks %s as system: %s', (_label, over, system) => {
    expect(parseLsblk(lsblk([disk(over)]))[0]!.system).toBe(system);
  });

  it('drops partitions, empty readers and unattached loops; reads old-style "0"/"1" flags', () => {
    const list = parseLsblk(lsblk([
      disk({ name: 'sdd', path: '/dev/sdd', size: 0, rm: '1' }),
      disk({ name: 'loop7', path: '/dev/loop7', type: 'loop', size: 0 }),
      disk({ name: 'sde', path: '/dev/sde', rm: '1', ro: '1', mountpoints: undefined, mountpoint: null }),
      { name: 'sr0', path: '/dev/sr0', type: 'rom', size: 100 },
    ]));
    expect(list).toEqual([{ path: '/dev/sde', model: '', size: 8 * 2 ** 30, removable: true, transport: '', mounts: [], system: false, readOnly: true }]);
  });
});

describe('listDevices on this machine', () => {
  it('marks the disk holding / as system', async () => {
    const root = (await listDevices()).filter((d) => d.system);
    if (root.length === 0) console.warn('skip: / is not on a block device lsblk shows (container overlay)');
    for (const d of root) expect(d.mounts.some((m) => m === '/' || m === '/boot' || m === '[SWAP]')).toBe(true);
  });

  describe.skipIf(!isRoot)('with a loop device', () => {
    if (!isRoot) console.warn('skip: needs root: loop devices');
    it('lists a loop device we attach, with its size, before the system disk', async () => {
      const t = tempDir('metis-devb-');
      cleanups.push(t.cleanup);
      const file = join(t.dir, 'card.img');
      writeFileSync(file, Buffer.alloc(0));
      execFileSync('truncate', ['-s', `${24 * MIB}`, file]);
      const loop = execFileSync('losetup', ['-f', '--show', file], { encoding: 'utf8' }).trim();
      cleanups.push(() => execFileSync('losetup', ['-d', loop]));
      const list = await listDevices();
      const mine = list.find((d) => d.path === loop);
      expect(mine).toMatchObject({ size: 24 * MIB, system: false, transport: 'loop', mounts: [] });
      const sys = list.findIndex((d) => d.system);
      if (sys >= 0) expect(list.indexOf(mine!)).toBeLessThan(sys);
    });
  });
});
