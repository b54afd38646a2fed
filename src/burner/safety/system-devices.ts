import { readFile, stat } from 'node:fs/promises';
import { devno } from './block-sysfs.js';

export interface MountEntry {
  dev: string;
  mountPoint: string;
}

/** /proc/self/mountinfo: field 3 is MAJ:MIN, field 5 the mount point (octal escapes decoded). */
export async function mounts(): Promise<MountEntry[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const f = l.split(' ');
      return { dev: f[2]!, mountPoint: f[4]!.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) };
    });
}

/** MAJ:MIN of what holds "/", "/boot" (and "/boot/firmware") and every active swap device or file. */
export async function systemDevnos(all: MountEntry[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const m of all) if (['/', '/boot', '/boot/firmware', '/boot/efi'].includes(m.mountPoint)) out.set(m.dev, m.mountPoint);
  const swaps = await readFile('/proc/swaps', 'utf8').catch(() => '');
  for (const line of swaps.split('\n').slice(1).filter(Boolean)) {
    const path = line.split(/\s+/)[0]!.replace(/\\040/g, ' ');
    const st = await stat(path).catch(() => null);
    if (!st) continue;
    // A swap partition is the device itself; a swap file lives on the device holding it.
    out.set(devno(st.isBlockDevice() ? st.rdev : st.dev), `swap ${path}`);
  }
  return out;
}
