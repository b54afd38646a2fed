// The benchmarks' test class image: MBR, a 64 MiB FAT32 boot partition with 16 MiB of files and an
// ext4 root holding ROOT_MIB of real files (a tar of /usr/share: text, images, binaries — it
// compresses like an OS image does). Made with the same tools a class image build uses.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const MIB = 1024 * 1024;
const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'], maxBuffer: 1 << 26, ...opts });

/** Builds WORK/class.img of SIZE_MIB and returns its path. */
export function makeClassImage(work, sizeMiB, rootMiB) {
  const img = join(work, 'class.img');
  sh('truncate', ['-s', `${sizeMiB}M`, img]);
  sh('sfdisk', ['-q', img], { input: 'label: dos\nstart=2048,size=131072,type=c\nstart=133120,type=83\n' });
  sh('mkfs.vfat', ['-F', '32', '-s', '1', '--offset', '2048', img, '65536']);
  const payload = (n, from, mib) => {
    const p = join(work, n);
    sh('sh', ['-c', 'tar cf - "$1" 2>/dev/null | head -c "$2" > "$3"', 'sh', from, String(mib * MIB), p]);
    return p;
  };
  sh('mcopy', ['-i', `${img}@@${2048 * 512}`, payload('firmware.bin', '/usr/lib/x86_64-linux-gnu', 16), '::/firmware.bin'], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
  const rootfs = join(work, 'rootfs');
  mkdirSync(rootfs);
  sh('mv', [payload('usr-share.tar', '/usr/share', rootMiB), rootfs]);
  sh('mkfs.ext4', ['-q', '-F', '-E', `offset=${133120 * 512}`, '-d', rootfs, img, `${(sizeMiB * MIB - 133120 * 512) / 1024}k`]);
  rmSync(rootfs, { recursive: true });
  return img;
}
