import { onPath } from '../core/exec.js';
import { MetisError } from '../lib/errors.js';

/** Building an image needs debootstrap, file ownership as root and Linux tools: say so before any work. */
export async function requireBuildHost(tools: string[]): Promise<void> {
  if (process.platform !== 'linux') {
    throw new MetisError('E_IMAGE_HOST', `metis image build needs Linux (found ${process.platform}): it runs debootstrap, sfdisk, mkfs.vfat and mkfs.ext4`);
  }
  if (process.getuid?.() !== 0) {
    throw new MetisError('E_IMAGE_HOST', 'metis image build needs root: debootstrap creates device nodes and root-owned files (run it with sudo)');
  }
  const missing = tools.filter((t) => !onPath(t));
  if (missing.length) {
    throw new MetisError('E_IMAGE_HOST', `missing host tools: ${missing.join(', ')} (Debian: apt-get install debootstrap fdisk dosfstools mtools e2fsprogs bmap-tools)`);
  }
}
