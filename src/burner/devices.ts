import { exec } from '../core/exec.js';
import { MetisError } from '../lib/errors.js';

export interface Device {
  path: string;
  model: string;
  size: number;
  removable: boolean;
  /** "usb", "mmc", "sata", "nvme", "loop", … ("" when the kernel doesn't say). */
  transport: string;
  /** Mount points of the disk and of all its partitions ("[SWAP]" for swap). */
  mounts: string[];
  /** Holds "/", "/boot" or swap: never a target. */
  system: boolean;
  readOnly: boolean;
}

interface LsblkNode {
  name?: string;
  path?: string;
  size?: number | string | null;
  model?: string | null;
  rm?: boolean | string | number | null;
  tran?: string | null;
  type?: string;
  mountpoints?: Array<string | null> | null;
  mountpoint?: string | null;
  ro?: boolean | string | number | null;
  children?: LsblkNode[];
}

const SYSTEM_MOUNTS = new Set(['/', '/boot', '/boot/firmware', '/boot/efi', '[SWAP]']);
export const LSBLK_COLUMNS = 'NAME,PATH,SIZE,MODEL,RM,TRAN,TYPE,MOUNTPOINTS,RO';

// lsblk prints booleans as true/false in new versions and "0"/"1" in older ones.
const flag = (v: unknown) => v === true || v === 1 || v === '1';

function mountsOf(n: LsblkNode): string[] {
  const own = n.mountpoints ?? (n.mountpoint !== undefined ? [n.mountpoint] : []);
  return [...own.filter((m): m is string => !!m), ...(n.children ?? []).flatMap(mountsOf)];
}

/** Where a card reader usually is: removable media and USB/MMC transports sort first. */
function rank(d: Device): number {
  if (d.system) return 3;
  if (d.removable || d.transport === 'usb' || d.transport === 'mmc') return 0;
  return d.transport === 'loop' ? 2 : 1;
}

/** Whole disks (and attached loop devices) from `lsblk -J -b` output; partitions fold into their disk. */
export function parseLsblk(json: string): Device[] {
  const doc = JSON.parse(json) as { blockdevices?: LsblkNode[] };
  const out: Device[] = [];
  for (const n of doc.blockdevices ?? []) {
    if (n.type !== 'disk' && n.type !== 'loop') continue;
    const size = Number(n.size ?? 0);
    // Unattached loop devices and empty card readers report size 0: nothing to write to.
    if (!size) continue;
    const mounts = mountsOf(n);
    out.push({
      path: n.path ?? `/dev/${n.name}`,
      model: (n.model ?? '').trim(),
      size,
      removable: flag(n.rm),
      transport: n.tran ?? (n.type === 'loop' ? 'loop' : ''),
      mounts,
      system: mounts.some((m) => SYSTEM_MOUNTS.has(m)),
      readOnly: flag(n.ro),
    });
  }
  return out.sort((a, b) => rank(a) - rank(b) || a.path.localeCompare(b.path));
}

export async function listDevices(): Promise<Device[]> {
  const r = await exec('lsblk', ['-J', '-b', '-o', LSBLK_COLUMNS]);
  if (r.exitCode !== 0) throw new MetisError('E_LSBLK', `lsblk failed (exit ${r.exitCode}): ${String(r.stderr).trim()}`);
  return parseLsblk(String(r.stdout));
}
