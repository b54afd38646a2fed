import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MetisError } from '../../src/lib/errors.js';
import { checkBase, nodeVersion, parseDpkgStatus } from '../../src/image/packages.js';
import { findVendorPartitions, vendorCmdline } from '../../src/image/vendor.js';

const STATUS = `Package: dpkg
Status: install ok installed
Architecture: arm64
Version: 1.21.22

Package: nodejs
Status: install ok installed
Architecture: arm64
Version: 18.20.4+dfsg-1~deb12u3

Package: open-iscsi
Status: deinstall ok config-files
Architecture: arm64
Version: 2.1.8-1
`;

describe('dpkg status of a vendor root', () => {
  it('lists installed packages only, with version and arch', () => {
    const p = parseDpkgStatus(STATUS);
    expect([...p.keys()]).toEqual(['dpkg', 'nodejs']);
    expect(p.get('nodejs')).toEqual({ version: '18.20.4+dfsg-1~deb12u3', arch: 'arm64' });
  });

  it.each([
    ['18.20.4+dfsg-1~deb12u3', [18, 20]],
    ['1:20.11.0-1nodesource1', [20, 11]],
    ['junk', undefined],
  ])('node version %s → %j', (v, want) => expect(nodeVersion(v)).toEqual(want));

  it.each([
    ['amd64', STATUS, 'is arm64, the class is amd64'],
    ['arm64', STATUS.replace('18.20.4', '12.22.12'), 'nodejs 12.22.12+dfsg-1~deb12u3 is older than 18.19'],
  ])('refuses a base of the wrong kind (class %s)', (arch, status, msg) => {
    expect(() => checkBase(parseDpkgStatus(status), arch, 'pi.img')).toThrow(msg);
  });

  it('accepts a matching base', () => expect(() => checkBase(parseDpkgStatus(STATUS), 'arm64', 'pi.img')).not.toThrow());
});

describe('vendorCmdline', () => {
  it.each([
    [
      'console=serial0,115200 console=tty1 root=PARTUUID=3d6c1b2a-02 rootfstype=ext4 fsck.repair=yes rootwait',
      'console=serial0,115200 console=tty1 root=PARTUUID=0badc0de-02 rootfstype=ext4 fsck.repair=yes rootwait',
    ],
    ['console=ttyS0 rw', 'root=PARTUUID=0badc0de-02 console=ttyS0 rw'],
  ])('%s', (vendor, want) => expect(vendorCmdline(`${vendor}\n`, '0BADC0DE')).toBe(want));
});

describe('findVendorPartitions (real sfdisk, mkfs; judged by superblocks, not type bytes)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'metis-vendor-parts-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const disk = (name: string, script: string, fs: Array<[string, number, number]>) => {
    const img = join(dir, name);
    execFileSync('truncate', ['-s', '200M', img]);
    execFileSync('sfdisk', ['-q', '--no-reread', '--no-tell-kernel', img], { input: script });
    for (const [kind, start, sizeMiB] of fs) {
      if (kind === 'fat') execFileSync('mkfs.vfat', ['-F', '32', '-s', '1', '--offset', String(start), img, String(sizeMiB * 1024)], { stdio: 'ignore' });
      else execFileSync('mkfs.ext4', ['-q', '-F', '-E', `offset=${start * 512}`, img, `${sizeMiB}M`]);
    }
    return img;
  };

  it('GPT: FAT boot first, ext4 root, and a bigger ext4 wins', () => {
    const img = disk('gpt.img', 'label: gpt\nstart=2048, size=81920, type=uefi\nstart=83968, size=40960, type=linux\nstart=124928, size=81920, type=linux\n', [
      ['fat', 2048, 40],
      ['ext', 83968, 20],
      ['ext', 124928, 40],
    ]);
    return expect(findVendorPartitions(img, 'gpt.img')).resolves.toMatchObject({ boot: { index: 1 }, root: { index: 3, offset: 124928 * 512 } });
  });

  it('MBR with a mislabelled type byte is still read by what the partition holds', () => {
    const img = disk('mbr.img', 'label: dos\nstart=2048, size=81920, type=83\nstart=83968, size=81920, type=c\n', [
      ['fat', 2048, 40],
      ['ext', 83968, 40],
    ]);
    return expect(findVendorPartitions(img, 'mbr.img')).resolves.toMatchObject({ boot: { index: 1 }, root: { index: 2 } });
  });

  it.each([
    ['no ext root', 'noroot.img', true, 'no ext2/3/4 root partition (found 1:fat32)'],
    ['not a disk image', 'blank.img', false, 'no MBR or GPT partition table'],
  ])('%s → E_BASE naming the file', async (_, name, withTable, msg) => {
    const img = withTable ? disk(name, 'label: dos\nstart=2048, size=81920, type=c\n', [['fat', 2048, 40]]) : join(dir, name);
    if (!withTable) await writeFile(img, Buffer.alloc(1 << 20));
    const err = await findVendorPartitions(img, name).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(MetisError);
    expect((err as MetisError).code).toBe('E_BASE');
    expect((err as Error).message).toContain(name);
    expect((err as Error).message).toContain(msg);
  });
});
