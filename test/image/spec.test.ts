import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/lib/errors.js';
import { allPackages, BASE_PACKAGES, loadImageSpec } from '../../src/core/image-spec.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'metis-image-spec-'));
  await mkdir(join(dir, 'classes'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function classFile(name: string, text: string): Promise<string> {
  await writeFile(join(dir, 'classes', `${name}.yaml`), text);
  return name;
}

let bad = 0;
describe('loadImageSpec', () => {
  it('reads arch, packages and the image mapping; fills defaults', async () => {
    const name = await classFile('rpi4-worker', 'arch: arm64\npackages: [open-iscsi]\nimage:\n  bootPath: /boot/firmware\n  ref: oci://r/x:1\n');
    const { spec, file } = await loadImageSpec(name, dir);
    expect(file).toBe(join(dir, 'classes', 'rpi4-worker.yaml'));
    expect(spec).toMatchObject({ name: 'rpi4-worker', arch: 'arm64', suite: 'bookworm', bootPath: '/boot/firmware', bootSizeMiB: 128 });
    expect(allPackages(spec)).toEqual([...new Set([...BASE_PACKAGES, 'open-iscsi'])].sort());
  });

  it.each([
    ['arch: riscv64\n', 'arch'],
    ['arch: amd64\npackages: ["Bad Name"]\n', 'packages.0'],
    ['arch: amd64\nimage:\n  bootPath: boot\n', 'bootPath'],
    ['arch: amd64\nimage:\n  bootSizeMiB: 8\n', 'bootSizeMiB'],
    ['arch: amd64\nimage:\n  enable: ["not a unit"]\n', 'enable.0'],
    ['arch: arm64\nimage:\n  initramfs: {}\n', 'initramfs.modules'],
    ['arch: arm64\nimage:\n  initramfs: []\n', 'initramfs'],
    ['arch: arm64\nimage:\n  initramfs:\n    modules: []\n', 'initramfs.modules'],
    ['arch: arm64\nimage:\n  initramfs:\n    modules: virtio_blk\n', 'initramfs.modules'],
    ['arch: arm64\nimage:\n  initramfs:\n    modules: [virtio_blk, "Ext4 FS"]\n', 'initramfs.modules.1'],
    ['arch: arm64\nimage:\n  initramfs:\n    modules: [virtio_blk, "ext4; reboot"]\n', 'initramfs.modules.1'],
    ['arch: arm64\nimage:\n  initramfs:\n    modules: [ext4, ext4]\n', 'initramfs.modules'],
    ['arch: arm64\nimage:\n  initramfs:\n    modules: [ext4]\n    compress: zstd\n', 'initramfs'],
  ])('%j → error at %s naming the file', async (text, path) => {
    const name = await classFile(`bad-${(bad += 1)}-${path.replace(/\./g, '-').toLowerCase()}`, text);
    const err = await loadImageSpec(name, dir).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues[0]?.path).toBe(path);
    expect((err as ValidationError).message).toContain(`${name}.yaml`);
  });

  it('image.initramfs.modules is read as given; absent, the spec has no initramfs', async () => {
    const withList = await classFile('virt-arm64', 'arch: arm64\nimage:\n  initramfs:\n    modules: [virtio_pci, virtio_blk, ext4]\n');
    expect((await loadImageSpec(withList, dir)).spec.initramfs).toEqual({ modules: ['virtio_pci', 'virtio_blk', 'ext4'] });
    const without = await classFile('plain-arm64', 'arch: arm64\n');
    expect((await loadImageSpec(without, dir)).spec.initramfs).toBeUndefined();
  });

  it('a missing class names the file it looked for', async () => {
    await expect(loadImageSpec('nope', dir)).rejects.toThrow(join(dir, 'classes', 'nope.yaml'));
  });
});
