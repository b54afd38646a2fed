import { readFileSync, statSync } from 'node:fs';
import { devno, parseMountinfo } from '../../core/mountinfo.js';

export interface MountEntry {
  dev: string;
  mountPoint: string;
}

/** /proc/self/mountinfo: MAJ:MIN and mount point of every mount (procfs: read synchronously, see block-sysfs.ts). */
export async function mounts(): Promise<MountEntry[]> {
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).map(({ dev, mountPoint }) => ({ dev, mountPoint }));
}

/** MAJ:MIN of what holds "/", "/boot" (and "/boot/firmware") and every active swap device or file. */
export async function systemDevnos(all: MountEntry[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const m of all) if (['/', '/boot', '/boot/firmware', '/boot/efi'].includes(m.mountPoint)) out.set(m.dev, m.mountPoint);
  let swaps = '';
  try {
    swaps = readFileSync('/proc/swaps', 'utf8');
  } catch {
    // No procfs swaps table: no swap to protect.
  }
  for (const line of swaps.split('\n').slice(1).filter(Boolean)) {
    const path = line.split(/\s+/)[0]!.replace(/\\040/g, ' ');
    let st;
    try {
      st = statSync(path);
    } catch {
      continue;
    }
    // A swap partition is the device itself; a swap file lives on the device holding it.
    out.set(devno(st.isBlockDevice() ? st.rdev : st.dev), `swap ${path}`);
  }
  return out;
}
