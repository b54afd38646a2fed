import { describe, expect, it } from 'vitest';
import { layout, sfdiskScript } from '../../src/image/disk.js';
import { classDiskIds } from '../../src/image/ids.js';
import { fatUuid, fstab } from '../../src/image/customize.js';
import { imageSpecSchema } from '../../src/core/image-spec.js';

describe('layout', () => {
  it('1 MiB gap, boot partition, root to the end', () => {
    const l = layout(64, 1024);
    expect(l.boot).toEqual({ startSector: 2048, sectors: 64 * 2048 });
    expect(l.root.startSector).toBe(2048 + 64 * 2048);
    expect((l.root.startSector + l.root.sectors) * 512).toBe(1024 * 1024 * 1024);
  });
  it('refuses a size with no room for root', () => {
    expect(() => layout(128, 150)).toThrow(/no room/);
  });
  it('sfdisk script: FAT32 LBA bootable, then Linux', () => {
    expect(sfdiskScript(layout(64, 512), 'deadbeef')).toBe(
      'label: dos\nlabel-id: 0xdeadbeef\nunit: sectors\nstart=2048, size=131072, type=c, bootable\nstart=133120, size=915456, type=83\n',
    );
  });
});

describe('ids and fstab', () => {
  it('ids are stable per class and differ between classes', () => {
    const a = classDiskIds('rpi4-worker');
    expect(classDiskIds('rpi4-worker')).toEqual(a);
    expect(classDiskIds('rpi5-worker').rootUuid).not.toBe(a.rootUuid);
    expect(a.rootUuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a.bootSerial).toMatch(/^[0-9a-f]{8}$/);
  });
  it('fstab mounts root and the FAT at the class boot path by UUID', () => {
    const spec = imageSpecSchema.parse({ name: 'c', arch: 'arm64' });
    const text = fstab(spec, { rootUuid: 'u-1', bootSerial: 'abcd1234' });
    expect(fatUuid('abcd1234')).toBe('ABCD-1234');
    expect(text).toContain('UUID=u-1 / ext4 ');
    expect(text).toMatch(/^UUID=ABCD-1234 \/boot\/firmware vfat \S*umask=0077/m);
  });
});
