import { createHash } from 'node:crypto';
import { fingerprint } from '../core/ssh-key.js';
import { chmod, mkdir, open, rename, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { z } from 'zod';
import { MetisError } from '../lib/errors.js';
import { parseYamlWith } from '../manifest/load.js';
import * as f from '../manifest/fields.js';
import { seal, unseal } from './age.js';

const hostKey = z.strictObject({
  private: z.string().regex(/-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'must be an OpenSSH private key'),
  public: f.sshPublicKey,
});

export const HOST_KEY_TYPES = ['ed25519', 'ecdsa', 'rsa'] as const;
export type HostKeyType = (typeof HOST_KEY_TYPES)[number];

/** What `metis identity capture` keeps of a node: exactly what makes it the same node after a reflash. */
export const escrowSchema = z.strictObject({
  node: f.hostname,
  capturedAt: z.string(),
  /** `user@address:port` it was read from. */
  capturedFrom: z.string(),
  machineId: f.machineId.optional(),
  iscsiInitiatorName: f.iqn.optional(),
  nodePassword: z.string().min(8).optional(),
  hostKeys: z.strictObject({ ed25519: hostKey.optional(), ecdsa: hostKey.optional(), rsa: hostKey.optional() }).default({}),
});
export type Escrow = z.output<typeof escrowSchema>;

/** The file the UI and every command look at: one sealed file per node. */
export function escrowPath(inventoryDir: string, node: string): string {
  return join(inventoryDir, 'identity', `${node}.age`);
}

export async function hasEscrow(inventoryDir: string, node: string): Promise<boolean> {
  return stat(escrowPath(inventoryDir, node)).then(
    (s) => s.isFile(),
    () => false,
  );
}

export function parseEscrow(text: string, file: string): Escrow {
  return parseYamlWith(escrowSchema, text, file);
}

export function serializeEscrow(e: Escrow): string {
  return `# metis identity escrow (sealed with age; open with: age -d -i KEY ${e.node}.age)\n${stringify(e, { lineWidth: 0 })}`;
}

/** Every secret value in an escrow, for redaction. */
export function escrowSecrets(e: Escrow): string[] {
  return [e.nodePassword, ...HOST_KEY_TYPES.map((t) => e.hostKeys[t]?.private)].filter((v): v is string => Boolean(v));
}

export async function readEscrow(inventoryDir: string, node: string, identities: string, env?: NodeJS.ProcessEnv): Promise<Escrow | null> {
  const file = escrowPath(inventoryDir, node);
  if (!(await hasEscrow(inventoryDir, node))) return null;
  const e = parseEscrow(await unseal(file, identities, env), file);
  if (e.node !== node) throw new MetisError('E_ESCROW', `${file}: node: holds the identity of ${e.node}, not ${node}`, { file, path: 'node' });
  return e;
}

/** Seals to the recipients and replaces the file atomically, 0600 from its first byte. */
export async function writeEscrow(inventoryDir: string, e: Escrow, recipients: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const file = escrowPath(inventoryDir, e.node);
  const sealed = await seal(serializeEscrow(e), recipients, env);
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(sealed);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await chmod(tmp, 0o600);
  await rename(tmp, file);
  return file;
}

export { fingerprint };

export interface EscrowChange {
  field: string;
  kind: 'added' | 'removed' | 'changed';
  /** A rotated host key or a changed node password: the node is no longer the one escrowed. */
  warning: boolean;
  /** Safe to print: fingerprints and public values only. */
  detail: string;
}

/** What a re-capture changes, in words that never contain a secret. */
export function diffEscrow(before: Escrow | null, after: Escrow): EscrowChange[] {
  const out: EscrowChange[] = [];
  const cmp = (field: string, a: string | undefined, b: string | undefined, show: (v: string) => string, warning: boolean) => {
    if (a === b) return;
    if (a === undefined) out.push({ field, kind: 'added', warning: false, detail: show(b!) });
    else if (b === undefined) out.push({ field, kind: 'removed', warning, detail: show(a) });
    else out.push({ field, kind: 'changed', warning, detail: `${show(a)} -> ${show(b)}` });
  };
  if (!before) {
    out.push({ field: '(all)', kind: 'added', warning: false, detail: 'first capture' });
    return out;
  }
  cmp('machineId', before.machineId, after.machineId, (v) => v, true);
  cmp('iscsiInitiatorName', before.iscsiInitiatorName, after.iscsiInitiatorName, (v) => v, true);
  cmp('nodePassword', before.nodePassword, after.nodePassword, (v) => `sha256 ${createHash('sha256').update(v).digest('hex').slice(0, 12)}…`, true);
  for (const t of HOST_KEY_TYPES) {
    cmp(`hostKeys.${t}`, before.hostKeys[t]?.public, after.hostKeys[t]?.public, fingerprint, true);
  }
  return out;
}
