import { describe, expect, it } from 'vitest';
import { devno, parseMountinfo } from '../../src/core/mountinfo.js';

describe('mountinfo', () => {
  it('parses fields around optional tags and decodes octal escapes', () => {
    const text = [
      '29 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw',
      '40 29 254:16 / /mnt/e2e\\040a rw,noatime shared:20 master:3 - ext4 /dev/vdb rw',
      '41 29 0:45 / /mnt/b rw - btrfs /dev/vdc rw,space_cache=v2',
      '',
    ].join('\n');
    expect(parseMountinfo(text)).toEqual([
      { dev: '254:1', mountPoint: '/', fstype: 'ext4', source: '/dev/vda1' },
      { dev: '254:16', mountPoint: '/mnt/e2e a', fstype: 'ext4', source: '/dev/vdb' },
      { dev: '0:45', mountPoint: '/mnt/b', fstype: 'btrfs', source: '/dev/vdc' },
    ]);
  });
  it.each([
    [0x0801, '8:1'],
    [(259 << 8) | 0, '259:0'],
    [(179 << 8) | 1 | (256 << 12), '179:257'],
  ])('devno(%i) is %s', (rdev, want) => {
    expect(devno(rdev)).toBe(want);
  });
});
