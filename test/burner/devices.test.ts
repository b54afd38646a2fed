import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { devicesFromLsblk, listDevices } from '../../src/burner/devices.js';
import { isRoot, MIB, tempDir } from './fixtures.js';

const disk = (name: string, extra: Record<string, unknown>) => ({ name, path: `/dev/${name}`, size: 64e9, model: null, rm: false, hotplug: false, tran: null, type: 'disk', mountpoints: [null], ...extra });

describe('devicesFromLsblk', () => {
  const json = JSON.stringify({
    blockdevices: [
      disk('nvme0n1', { tran: 'nvme', model: 'Samsung SSD 980 ', children: [
        { ...disk('nvme0n1p1', { type: 'part', mountpoints: ['/boot/efi'] }) },
        { ...disk('nvme0n1p2', { type: 'part', mountpoints: ['/'] }) },
      ] }),
      disk('sdb', { tran: 'sata', model: 'WDC data', children: [{ ...disk('sdb1', { type: 'part', mountpoints: ['/srv'] }) }] }),
      disk('sdc', { tran: 'usb', rm: true, model: 'SD Card Reader', size: 31914983424 }),
      disk('zram0', { size: 0 }),
      disk('loop0', { type: 'loop', size: 8 * MIB }),
      disk('sr0', { type: 'rom' }),
    ],
  });

  it('puts removable/USB first, marks the system disk and lists mounts through partitions', () => {
    const d = devicesFromLsblk(json);
    expect(d.map((x) => x.path)).toEqual(['/dev/sdc', '/dev/sdb', '/dev/loop0', '/dev/nvme0n1']);
    expect(d[0]).toEqual({ path: '/dev/sdc', model: 'SD Card Reader', size: 31914983424, removable: true, transport: 'usb', mounts: [], system: false });
    expect(d[1]).toMatchObject({ system: false, mounts: ['/srv'] });
    expect(d[3]).toMatchObject({ system: true, model: 'Samsung SSD 980', mounts: ['/boot/efi', '/'] });
  });

  it('treats a swap partition as system, and lsblk\'s "1"/"0" strings as booleans', () => {
    const d = devicesFromLsblk(JSON.stringify({ blockdevices: [disk('sda', { rm: '1', children: [{ ...disk('sda1', { type: 'part', mountpoints: ['[SWAP]'] }) }] })] }));
    expect(d[0]).toMatchObject({ removable: true, system: true });
  });
});

describe('listDevices on this machine', () => {
  it('marks the disk holding / as a system disk', async () => {
    const d = await listDevices();
    expect(d.filter((x) => x.system).flatMap((x) => x.mounts)).toContain('/');
  });

  it.skipIf(!isRoot)('lists a loop device we attach, not as a system disk', async () => {
    const t = tempDir('metis-devices-');
    const file = join(t.dir, 'card.img');
    writeFileSync(file, Buffer.alloc(8 * MIB));
    const dev = execFileSync('losetup', ['-f', '--show', file], { encoding: 'utf8' }).trim();
    try {
      const d = (await listDevices()).find((x) => x.path === dev);
      expect(d).toMatchObject({ size: 8 * MIB, system: false, transport: 'loop' });
    } finally {
      execFileSync('losetup', ['-d', dev]);
      t.cleanup();
    }
  });
});
