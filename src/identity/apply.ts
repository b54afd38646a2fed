import { relative } from 'node:path';
import { MetisError } from '../lib/errors.js';
import type { Inventory, Sourced } from '../inventory/load.js';
import type { NodeDef } from '../inventory/schema.js';
import type { SecretResolver } from '../inventory/secrets.js';
import { type Escrow, escrowPath, hasEscrow, HOST_KEY_TYPES, parseEscrow } from './escrow.js';

interface ManifestDraft {
  ssh: Record<string, unknown>;
  k3s?: Record<string, unknown>;
  identity?: Record<string, unknown>;
}

/** The origin path an escrow is opened under: a resolver tells it from the inventory's secrets by it. */
export const ESCROW_ORIGIN = '(sealed file)';

/**
 * Puts a node's escrowed identity (inventory/identity/NODE.age) into its manifest draft: host
 * keys, machine-id, initiator name, node password. The escrow is what the node really was; a node
 * file that says otherwise is a contradiction the operator must resolve, not one we pick a side of.
 */
export async function applyEscrow(draft: ManifestDraft, inv: Inventory, node: Sourced<NodeDef>, resolve: SecretResolver): Promise<Escrow | null> {
  const name = node.def.hostname;
  if (!(await hasEscrow(inv.dir, name))) return null;
  const file = escrowPath(inv.dir, name);
  const rel = relative(inv.dir, file);
  const e = parseEscrow(await resolve(`age:${rel}`, { file, path: ESCROW_ORIGIN }), file);
  if (e.node !== name) throw new MetisError('E_ESCROW', `${file}: node: holds the identity of ${e.node}, not ${name}`, { file, path: 'node' });
  const conflict = (field: string, mine: unknown, escrowed: unknown) => {
    if (mine !== undefined && escrowed !== undefined && mine !== escrowed) {
      throw new MetisError('E_ESCROW', `${node.file}: ${field}: differs from the escrowed identity in ${rel}; remove it from the node file (the escrow is what the node was) or capture again`, { file: node.file, path: field });
    }
  };
  const id = { ...(draft.identity ?? {}) };
  conflict('identity.machineId', id.machineId, e.machineId);
  conflict('identity.iscsiInitiatorName', id.iscsiInitiatorName, e.iscsiInitiatorName);
  if (e.machineId) id.machineId = e.machineId;
  if (e.iscsiInitiatorName) id.iscsiInitiatorName = e.iscsiInitiatorName;
  if (Object.keys(id).length) draft.identity = id;
  const keys = Object.fromEntries(HOST_KEY_TYPES.filter((t) => e.hostKeys[t]).map((t) => [t, e.hostKeys[t]]));
  if (Object.keys(keys).length) draft.ssh = { ...draft.ssh, hostKeys: keys };
  if (draft.k3s && e.nodePassword) {
    if (draft.k3s.nodePassword !== undefined && draft.k3s.nodePassword !== e.nodePassword) {
      throw new MetisError('E_ESCROW', `${node.file}: k3s.nodePassword: its source gives a different password than the escrow in ${rel}; remove k3s.nodePassword from the node file or capture again`, { file: node.file, path: 'k3s.nodePassword' });
    }
    draft.k3s = { ...draft.k3s, nodePassword: e.nodePassword };
  }
  return e;
}

function shown(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') ? rel : file;
}

/** One line every command prints about a node's identity, so a new identity is never a surprise. */
export async function escrowNotice(inventoryDir: string, node: string): Promise<string> {
  const file = escrowPath(inventoryDir, node);
  if (await hasEscrow(inventoryDir, node)) return `${node}: identity from escrow ${shown(file)}: same SSH host keys, machine-id, initiator name and node password`;
  return `${node}: no identity escrow (${shown(file)}): the card gets a NEW identity (new SSH host keys, machine-id, node password); capture it while the node runs: metis identity capture ${node}`;
}
