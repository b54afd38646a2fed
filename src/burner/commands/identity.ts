import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import { MetisError } from '../../lib/errors.js';
import { Redactor } from '../../lib/redact.js';
import { operatorKeys } from '../../identity/age.js';
import { captureIdentity } from '../../identity/capture.js';
import { diffEscrow, escrowPath, escrowSecrets, fingerprint, hasEscrow, HOST_KEY_TYPES, readEscrow, writeEscrow } from '../../identity/escrow.js';
import { nodeSshTarget } from '../../fleet/node-target.js';
import { lineIn, loadInventory } from '../../inventory/load.js';
import { UsageError } from './exit-codes.js';
import { inventoryDir, type Io } from '../../inventory/io.js';

const USAGE = `usage: metis identity capture NODE…|--all [--inventory DIR] [--age-key FILE]
       metis identity show [NODE…] [--inventory DIR] [--age-key FILE]`;

/**
 * `capture`: read each node's identity over SSH and seal it to cluster.yaml identity.recipients in
 * inventory/identity/NODE.age. `show`: which nodes are escrowed, with fingerprints (never secrets).
 */
export async function identityCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  const { values: v, positionals } = parseArgs({
    args: rest,
    strict: true,
    allowPositionals: true,
    options: { all: { type: 'boolean', default: false }, inventory: { type: 'string' }, root: { type: 'string' }, yes: { type: 'boolean', default: false } },
  });
  const dir = inventoryDir(v.inventory);
  const inv = await loadInventory(dir);
  if (sub === 'capture') {
    if (v.all === positionals.length > 0) throw new UsageError(`give NODE… or --all\n${USAGE}`);
    const nodes = v.all ? [...inv.nodes.keys()] : positionals;
    for (const n of nodes) nodeSshTarget(inv, n);
    const recipients = inv.cluster.def.identity?.recipients ?? [];
    if (recipients.length === 0) {
      const file = inv.cluster.file;
      const line = inv.cluster.def.identity ? lineIn(inv.cluster.text, ['identity']) : undefined;
      throw new MetisError('E_ESCROW_RECIPIENTS', `${file}${line ? `:${line}` : ''}: identity.recipients: no age recipients to seal the identity to; add your public key (age-keygen -y KEY) under identity.recipients`, { file, path: 'identity.recipients' });
    }
    // The previous capture is compared before anything is written: a rotated key must be seen.
    const keys = await operatorKeys(io.env).catch(() => null);
    let failed = 0;
    for (const n of nodes) {
      const target = nodeSshTarget(inv, n);
      try {
        const now = await captureIdentity(n, target, { env: io.env, root: v.root });
        let before = null;
        if (await hasEscrow(dir, n)) {
          if (!keys) throw new MetisError('E_AGE_KEY', `${relative(process.cwd(), escrowPath(dir, n))} exists but no age key was found to compare with it: pass --age-key FILE (or SOPS_AGE_KEY_FILE)`);
          before = await readEscrow(dir, n, keys.identities, io.env);
        }
        const changes = diffEscrow(before, now);
        const redact = new Redactor([...escrowSecrets(now), ...(before ? escrowSecrets(before) : [])]);
        const file = escrowPath(dir, n);
        const unchanged = before !== null && changes.length === 0;
        if (!unchanged) await writeEscrow(dir, now, recipients, io.env);
        const summary = [now.machineId ? 'machine-id' : null, now.iscsiInitiatorName ? 'initiator name' : null, now.nodePassword ? 'node password' : null, ...HOST_KEY_TYPES.filter((t) => now.hostKeys[t]).map((t) => `${t} host key ${fingerprint(now.hostKeys[t]!.public)}`)].filter(Boolean).join(', ');
        io.out(redact.text(`${n}: ${unchanged ? 'unchanged' : before ? 'updated' : 'captured'} ${relative(process.cwd(), file)} (${summary})\n`));
        for (const c of changes) {
          if (c.field === '(all)') continue;
          io.err(redact.text(`${c.warning ? 'WARNING: ' : ''}${n}: ${c.field} ${c.kind}: ${c.detail}${c.warning && c.field.startsWith('hostKeys') ? ' (the host key rotated since the last capture: check that this is really the node)' : ''}\n`));
        }
        const nf = inv.nodes.get(n)!;
        for (const [field, mine, got] of [['identity.machineId', nf.def.identity?.machineId, now.machineId], ['identity.iscsiInitiatorName', nf.def.identity?.iscsiInitiatorName, now.iscsiInitiatorName]] as const) {
          if (mine && got && mine !== got) io.err(`${n}: ${nf.file}: ${field} (${mine}) differs from the node's (${got}): remove it from the node file, the escrow provides it (a burn refuses the contradiction)\n`);
        }
        const missing = [!now.machineId && 'machine-id', !now.iscsiInitiatorName && 'initiator name', !now.nodePassword && 'node password (/etc/rancher/node/password)'].filter(Boolean);
        if (missing.length) io.err(`${n}: not on the node, not escrowed: ${missing.join(', ')}\n`);
      } catch (e) {
        failed++;
        io.err(`metis identity capture: ${(e as Error).message}\n`);
      }
    }
    return failed ? 1 : 0;
  }
  if (sub === 'show') {
    const nodes = positionals.length ? positionals : [...inv.nodes.keys()];
    const keys = await operatorKeys(io.env).catch(() => null);
    for (const n of nodes) {
      nodeSshTarget(inv, n);
      const file = relative(process.cwd(), escrowPath(dir, n));
      if (!(await hasEscrow(dir, n))) {
        io.out(`${n}: not escrowed (${file}): a new card gets a new identity\n`);
        continue;
      }
      if (!keys) {
        io.out(`${n}: escrowed in ${file} (no age key to open it)\n`);
        continue;
      }
      const e = (await readEscrow(dir, n, keys.identities, io.env))!;
      const fps = HOST_KEY_TYPES.filter((t) => e.hostKeys[t]).map((t) => `${t} ${fingerprint(e.hostKeys[t]!.public)}`);
      io.out(`${n}: escrowed in ${file}, captured ${e.capturedAt} from ${e.capturedFrom}: machine-id ${e.machineId ?? '-'}, ${e.iscsiInitiatorName ?? 'no initiator name'}, node password ${e.nodePassword ? 'yes' : 'no'}, ${fps.join(', ')}\n`);
    }
    return 0;
  }
  throw new UsageError(`identity needs capture or show\n${USAGE}`);
}
