import { MetisError } from '../lib/errors.js';
import type { SshTarget } from '../lib/ssh.js';
import type { Inventory } from '../inventory/load.js';
import type { SecretResolver } from '../inventory/secrets.js';
import { ESCROW_ORIGIN } from '../identity/apply.js';
import { parseEscrow, serializeEscrow } from '../identity/escrow.js';

/** One inventory node as the fleet commands address it. */
export interface FleetNode {
  name: string;
  /** root@ADDRESS:PORT: the node's static address and the manifest's sshd port (docs/fleet.md). */
  ssh: SshTarget;
  /** The k3s version the inventory pins, when the class runs k3s. */
  k3sVersion?: string;
}

/** Which nodes a command addresses: the named ones (each must be in the inventory), or all when none is named. */
export function selectNodes(inv: Inventory, names: string[]): FleetNode[] {
  const pick = names.length ? names : [...inv.nodes.keys()];
  const unknown = pick.filter((n) => !inv.nodes.has(n));
  if (unknown.length) {
    throw new MetisError('E_UNKNOWN_NODE', `not in ${inv.dir}/nodes: ${unknown.join(', ')} (nodes: ${[...inv.nodes.keys()].join(', ') || 'none'})`);
  }
  return [...new Set(pick)].map((name) => {
    const n = inv.nodes.get(name)!.def;
    const c = inv.classes.get(n.class)!.def;
    const version = c.k3s ? (n.k3s?.version ?? c.k3s.version) : undefined;
    return {
      name,
      ssh: { user: 'root', host: n.address.split('/')[0]!, port: n.ssh?.port ?? inv.cluster.def.ssh.port },
      ...(version ? { k3sVersion: version } : {}),
    };
  });
}

/**
 * For comparing hashes only: every secret field gets a value of the right shape that is never
 * printed, written or sent; manifestHash leaves secret values out, so `metis status` needs no
 * secret source (no password manager prompt, no token in the environment).
 */
export const placeholderSecrets: SecretResolver = async (_source, origin) =>
  origin.path === 'token' ? `K10${'0'.repeat(64)}::server:metis-placeholder` : 'metis-placeholder-secret';

/**
 * `metis status`'s resolver: placeholders for the inventory's secrets, but an identity escrow is
 * opened for real (with the operator's age key, a local file: no prompt). The escrow's machine-id
 * and initiator name are not secret and are in the manifest the node hashes; a placeholder there
 * is no escrow at all (and failed to parse), so status broke for every node with an escrow.
 */
export function statusSecrets(real: SecretResolver): SecretResolver {
  return async (source, origin) => {
    if (origin.path !== ESCROW_ORIGIN) return placeholderSecrets(source, origin);
    const e = parseEscrow(await real(source, origin), origin.file);
    // Its node password becomes the placeholder too: not hashed either, and the node file's own
    // (placeholder) password must not read as a contradiction of the escrow's.
    if (!e.nodePassword) return serializeEscrow(e);
    return serializeEscrow({ ...e, nodePassword: await placeholderSecrets(source, { file: origin.file, path: 'k3s.nodePassword' }) });
  };
}
