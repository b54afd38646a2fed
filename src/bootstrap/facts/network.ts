import type { RootedFs } from '../rooted-fs.js';

/** Which network stack configures the root's NICs; `auto` in the manifest resolves to one of these. */
export type NetworkBackend = 'networkd' | 'networkmanager' | 'netplan';

/** netplan when the root has netplan config, NetworkManager when installed, else networkd. */
export async function detectBackend(fs: RootedFs): Promise<NetworkBackend> {
  const netplan = (await fs.readdir('/etc/netplan')).some((f) => f.endsWith('.yaml')) && (await fs.exists('/usr/sbin/netplan'));
  if (netplan) return 'netplan';
  if ((await fs.exists('/usr/sbin/NetworkManager')) && (await fs.exists('/etc/NetworkManager'))) return 'networkmanager';
  return 'networkd';
}
