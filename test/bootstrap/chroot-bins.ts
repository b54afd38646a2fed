import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, realpathSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Copies real host binaries and the libraries `ldd` names into a sysroot, so `chroot ROOT cmd`
 * runs there as it would on the node (Debian's own dash, env, touch…; no stand-ins).
 */
export function addChrootBinaries(root: string, bins: string[]): void {
  const copy = (src: string) => {
    const real = realpathSync(src);
    for (const target of new Set([src, real])) {
      const dest = join(root, target);
      if (existsSync(dest)) continue;
      mkdirSync(dirname(dest), { recursive: true });
      copyFileSync(real, dest);
    }
  };
  for (const bin of bins) {
    copy(bin);
    const libs = execFileSync('ldd', [realpathSync(bin)], { encoding: 'utf8' })
      .split('\n')
      .map((l) => /(\/\S+)\s+\(0x/.exec(l)?.[1])
      .filter((p): p is string => Boolean(p));
    for (const lib of libs) copy(lib);
  }
  if (!existsSync(join(root, 'bin/sh'))) {
    mkdirSync(join(root, 'bin'), { recursive: true });
    symlinkSync(realpathSync('/bin/dash'), join(root, 'bin/sh'));
  }
}
