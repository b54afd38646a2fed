import { MetisError } from '../lib/errors.js';
import type { SshTarget } from '../lib/ssh.js';
import type { Inventory } from '../inventory/load.js';

/**
 * Where a node answers SSH, from the inventory alone (no secrets needed): its address, the
 * manifest's port, and the first user its authorized keys are installed for (root by default).
 */
export function nodeSshTarget(inv: Inventory, hostname: string): SshTarget & { address: string } {
  const node = inv.nodes.get(hostname);
  if (!node) throw new MetisError('E_UNKNOWN_NODE', `no node ${hostname} in ${inv.dir}/nodes (nodes: ${[...inv.nodes.keys()].join(', ') || 'none'})`);
  const cl = inv.cluster.def;
  const address = node.def.address.split('/')[0]!;
  const port = node.def.ssh?.port ?? cl.ssh.port;
  const user = [...cl.ssh.authorizedKeys, ...(node.def.ssh?.authorizedKeys ?? [])][0]?.user ?? 'root';
  return { user, host: address, port, address };
}
