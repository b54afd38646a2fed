import { execa } from 'execa';

export interface Device {
  path: string;
  model: string;
  size: number;
  removable: boolean;
  /** "usb", "mmc", "sata", "nvme", "loop", … as lsblk names it; "" when unknown. */
  transport: string;
  /** Mount points of the disk and all its partitions. */
  mounts: string[];
  /** Holds "/", "/boot" or swap: `metis burn` refuses it. */
  system: boolean;
}

interface LsblkNode {
  name: string;
  path: string;
  size: number | string | null;
  model: string | null;
  rm: boolean | string | null;
  hotplug?: boolean | string | null;
  tran: string | null;
  type: string;
  mountpoints?: Array<string | null>;
  children?: LsblkNode[];
}

const SYSTEM_MOUNTS = new Set(['/', '/boot', '/boot/firmware', '/boot/efi', '[SWAP]']);
const truthy = (v: boolean | string | null | undefined) => v === true || v === '1';

function mountsOf(n: LsblkNode): string[] {
  return [...(n.mountpoints ?? []).filter((m): m is string => !!m), ...(n.children ?? []).flatMap(mountsOf)];
}

/** From `lsblk -J -b` output to candidate disks: removable/USB first, system disks last and marked. */
export function devicesFromLsblk(json: string): Device[] {
  const nodes = (JSON.parse(json) as { blockdevices: LsblkNode[] }).blockdevices;
  const out = nodes
    .filter((n) => (n.type === 'disk' || n.type === 'loop') && Number(n.size) > 0 && !/^(zram|ram)\d/.test(n.name))
    .map((n): Device => {
      const mounts = mountsOf(n);
      return {
        path: n.path,
        model: (n.model ?? '').trim(),
        size: Number(n.size),
        removable: truthy(n.rm) || truthy(n.hotplug),
        transport: n.tran ?? (n.type === 'loop' ? 'loop' : ''),
        mounts,
        system: mounts.some((m) => SYSTEM_MOUNTS.has(m)),
      };
    });
  const rank = (d: Device) => (d.system ? 3 : d.removable || d.transport === 'usb' || d.transport === 'mmc' ? 0 : d.transport === 'loop' ? 2 : 1);
  return out.sort((a, b) => rank(a) - rank(b) || a.path.localeCompare(b.path));
}

/**
 * Candidate disks for `metis devices`. lsblk is what systeminformation runs underneath on Linux;
 * calling it directly gives the partition tree, which marking system disks needs.
 */
export async function listDevices(): Promise<Device[]> {
  const r = await execa('lsblk', ['-J', '-b', '-o', 'NAME,PATH,SIZE,MODEL,RM,HOTPLUG,TRAN,TYPE,MOUNTPOINTS']);
  return devicesFromLsblk(r.stdout);
}
