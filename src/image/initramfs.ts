import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Log } from '../core/exec.js';
import type { ImageSpec } from '../core/image-spec.js';

/** initramfs-tools reads conf.d after its own initramfs.conf: this file overrides MODULES=most. */
export const INITRAMFS_CONF = 'etc/initramfs-tools/conf.d/metis.conf';
/** The admin's module list initramfs-tools packs (and loads at boot) with MODULES=list. */
export const INITRAMFS_MODULES = 'etc/initramfs-tools/modules';

/**
 * Writes the class's initramfs module set into a root tree. Called before any package is installed
 * in it (before debootstrap, before a vendor base gets its missing packages), so the kernel
 * package's postinst builds the initramfs once, with MODULES=list. The installs keep these files:
 * debootstrap and installMissing run dpkg with --force-confold. No-op when the class sets none.
 */
export async function writeInitramfsConfig(root: string, spec: Pick<ImageSpec, 'initramfs'>, log: Log): Promise<boolean> {
  const modules = spec.initramfs?.modules;
  if (!modules) return false;
  await mkdir(join(root, 'etc/initramfs-tools/conf.d'), { recursive: true });
  await writeFile(join(root, INITRAMFS_CONF), '# Written by metis image build (class image.initramfs): only the listed modules.\nMODULES=list\n');
  await writeFile(join(root, INITRAMFS_MODULES), ['# Written by metis image build (class image.initramfs.modules).', ...modules, ''].join('\n'));
  log(`initramfs: MODULES=list, ${modules.length} modules (${modules.join(' ')})`);
  return true;
}
