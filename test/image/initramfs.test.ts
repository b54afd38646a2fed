import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allPackages, imageSpecSchema } from '../../src/core/image-spec.js';
import { baseKey, baseRootfs } from '../../src/image/debootstrap.js';
import { INITRAMFS_CONF, INITRAMFS_MODULES, writeInitramfsConfig } from '../../src/image/initramfs.js';

const LIST = ['virtio_pci', 'virtio_blk', 'ext4'];
const withList = imageSpecSchema.parse({ name: 'virt', arch: 'amd64', packages: ['linux-image-amd64'], initramfs: { modules: LIST } });
const plain = imageSpecSchema.parse({ name: 'virt', arch: 'amd64', packages: ['linux-image-amd64'] });

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'metis-initramfs-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('writeInitramfsConfig', () => {
  it('writes MODULES=list in conf.d and the module list, one a line', async () => {
    const root = join(dir, 'root-a');
    const lines: string[] = [];
    expect(await writeInitramfsConfig(root, withList, (l) => lines.push(l))).toBe(true);
    const conf = await readFile(join(root, INITRAMFS_CONF), 'utf8');
    expect(conf.split('\n').filter((l) => l && !l.startsWith('#'))).toEqual(['MODULES=list']);
    const mods = await readFile(join(root, INITRAMFS_MODULES), 'utf8');
    expect(mods.split('\n').filter((l) => l && !l.startsWith('#'))).toEqual(LIST);
    expect(lines.join('\n')).toContain('MODULES=list, 3 modules');
  });

  it('a class without image.initramfs leaves the tree alone', async () => {
    const root = join(dir, 'root-b');
    await mkdir(root);
    expect(await writeInitramfsConfig(root, plain, () => {})).toBe(false);
    await expect(readFile(join(root, INITRAMFS_CONF))).rejects.toThrow(/ENOENT/);
    await expect(readFile(join(root, INITRAMFS_MODULES))).rejects.toThrow(/ENOENT/);
  });
});

describe('baseKey', () => {
  it('is unchanged for classes without image.initramfs (their cached trees stay valid) and differs with one', () => {
    const old = createHash('sha256').update(JSON.stringify({ v: 1, suite: plain.suite, arch: plain.arch, packages: allPackages(plain) })).digest('hex').slice(0, 16);
    expect(baseKey(plain)).toBe(`bookworm-amd64-${old}`);
    expect(baseKey(withList)).not.toBe(baseKey(plain));
    const other = imageSpecSchema.parse({ ...withList, initramfs: { modules: [...LIST, 'virtio_net'] } });
    expect(baseKey(other)).not.toBe(baseKey(withList));
  });
});

describe('baseRootfs writes the list before debootstrap installs the kernel', () => {
  let bin: string;
  let savedPath: string | undefined;
  beforeAll(async () => {
    // Stand-in for debootstrap (the real one needs a mirror): it records what its target already
    // holds under etc/initramfs-tools when it starts, then leaves a minimal tree.
    bin = join(dir, 'bin');
    await mkdir(bin);
    await writeFile(join(bin, 'debootstrap'), [
      '#!/bin/sh',
      '# stand-in for debootstrap: records the initramfs config its target holds at start',
      'for a; do prev2=$prev1; prev1=$a; done',
      'target=$prev2',
      'mkdir -p "$target/etc"',
      '{ cat "$target/etc/initramfs-tools/conf.d/metis.conf" "$target/etc/initramfs-tools/modules" 2>&1; } > "$target/seen-at-start"',
      'echo ID=debian > "$target/etc/os-release"',
      '',
    ].join('\n'));
    await chmod(join(bin, 'debootstrap'), 0o755);
    savedPath = process.env['PATH'];
    process.env['PATH'] = `${bin}:${savedPath ?? ''}`;
  });
  afterAll(() => {
    process.env['PATH'] = savedPath;
  });

  it('the target holds MODULES=list and the module list when debootstrap starts; the cached tree keeps them', async () => {
    const cache = join(dir, 'cache');
    const tree = await baseRootfs(withList, 'http://mirror.invalid/debian', cache, () => {});
    expect(tree).toBe(join(cache, `rootfs-${baseKey(withList)}`));
    const seen = await readFile(join(tree, 'seen-at-start'), 'utf8');
    expect(seen).toContain('MODULES=list');
    for (const m of LIST) expect(seen.split('\n')).toContain(m);
    expect(await readFile(join(tree, INITRAMFS_MODULES), 'utf8')).toContain('virtio_blk\n');
  });

  it('without image.initramfs debootstrap starts on an empty target', async () => {
    const tree = await baseRootfs(plain, 'http://mirror.invalid/debian', join(dir, 'cache2'), () => {});
    expect(await readFile(join(tree, 'seen-at-start'), 'utf8')).toMatch(/No such file/);
  });
});
