// /proc/self/mountinfo and device numbers, read without a process (findmnt and lsblk read the same).
// Fields (proc(5)): id parent MAJ:MIN root mount-point options [optional…] - fstype source super-options.

export interface MountInfoEntry {
  /** MAJ:MIN of the mounted filesystem (st_dev; the block device's for ext4, vfat, xfs…). */
  dev: string;
  /** Octal escapes (\040 for a space) decoded. */
  mountPoint: string;
  fstype: string;
  /** The mount source, e.g. /dev/vdb (decoded likewise). */
  source: string;
}

const unescape = (s: string) => s.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** Every mount, in the kernel's order (a later mount on the same point is on top). */
export function parseMountinfo(text: string): MountInfoEntry[] {
  const out: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    out.push({ dev: f[2] ?? '', mountPoint: unescape(f[4] ?? ''), fstype: sep > 0 ? (f[sep + 1] ?? '') : '', source: sep > 0 ? unescape(f[sep + 2] ?? '') : '' });
  }
  return out;
}

/** "MAJ:MIN" of a device number as the kernel prints it in sysfs and mountinfo. */
export function devno(rdev: number): string {
  // Linux's new_encode_dev layout, which is what stat() reports for st_rdev / st_dev.
  const major = ((rdev >> 8) & 0xfff) | Math.floor(rdev / 2 ** 32) & ~0xfff;
  const minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
  return `${major}:${minor}`;
}
