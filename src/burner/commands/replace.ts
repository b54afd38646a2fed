import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { kubeDelete, kubeGet } from '../../lib/kubectl.js';
import { escrowNotice } from '../../identity/apply.js';
import { hasEscrow } from '../../identity/escrow.js';
import { manifestHash, saveBurnRecord } from '../../fleet/burn-record.js';
import { clusterPreflight } from '../../fleet/preflight.js';
import { readBootFile } from '../fat/boot-file.js';
import { loadInventory } from '../../inventory/load.js';
import { nodeManifest } from '../../inventory/merge.js';
import { burnCommand } from './burn.js';
import { MANIFEST_PATH } from '../../core/card.js';
import { NotConfirmedError, UsageError } from './exit-codes.js';
import { inventoryDir, type Io, resolverFor } from '../../inventory/io.js';
import { parseDuration, waitFor } from './wait.js';

const USAGE = `usage: metis replace NODE (--device DEV | --to FILE) [--host FLASHER] [--wait] [--timeout D] [--context C] [--kubeconfig FILE]
       [--yes] [--new-node] [--force] [--image REF] [--sha256 HEX] [--inventory DIR] [--cache DIR] [--age-key FILE]`;

/**
 * The runbook as one command: cluster preflight (read-only) → confirmation → burn (the one burn
 * pipeline, `metis burn`) → only then the cluster change a new identity needs (delete the stale
 * Node) → what the person on site must do → optionally `metis wait`.
 */
export async function replaceCommand(argv: string[], io: Io): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      device: { type: 'string' },
      to: { type: 'string' },
      host: { type: 'string' },
      wait: { type: 'boolean', default: false },
      timeout: { type: 'string', default: '15m' },
      context: { type: 'string' },
      kubeconfig: { type: 'string' },
      yes: { type: 'boolean', default: false },
      'new-node': { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      image: { type: 'string' },
      sha256: { type: 'string' },
      inventory: { type: 'string' },
      cache: { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new UsageError(`replace takes one NODE\n${USAGE}`);
  if (Boolean(v.device) === Boolean(v.to)) throw new UsageError(`give exactly one of --device DEV or --to FILE\n${USAGE}`);
  const timeoutMs = parseDuration(v.timeout, '--timeout');
  const node = positionals[0]!;
  const dir = inventoryDir(v.inventory);
  const inv = await loadInventory(dir);
  // Secrets first (token from its source, escrow unsealed): a wrong key or a broken file stops here.
  const manifest = await nodeManifest(inv, node, resolverFor(io, dir));
  const escrowed = await hasEscrow(dir, node);
  io.err(`${await escrowNotice(dir, node)}\n`);
  const kube = { context: v.context, kubeconfig: v.kubeconfig, env: io.env };
  const pre = await clusterPreflight({ manifest, escrowed, allowAbsent: v['new-node'], force: v.force, kube, nodeFile: inv.nodes.get(node)!.file, clusterFile: inv.cluster.file });
  for (const n of pre.notes) io.err(`preflight: ${n}\n`);

  const deleteNode = pre.node !== null && !escrowed;
  const target = (v.device ?? v.to)!;
  const plan = [
    `burn ${node}'s card to ${v.host ? `${v.host}:` : ''}${target}`,
    pre.node ? (escrowed ? `keep Node ${node}: it rejoins with its escrowed identity` : `then DELETE Node ${node} from the cluster (k3s drops its node-password secret): the new card has a NEW identity and would be refused under the old one`) : `${node} joins as a new Node`,
  ];
  io.err(`plan:\n${plan.map((p) => `  - ${p}`).join('\n')}\n`);
  if (!v.yes) {
    const answer = await io.ask(`Replace ${node} as planned? Type "yes" to continue: `);
    if (answer === null) throw new NotConfirmedError(`not replacing ${node}: no terminal to confirm on; pass --yes`);
    if (answer.trim().toLowerCase() !== 'yes') throw new NotConfirmedError(`not replacing ${node}: not confirmed`);
  }

  const burnArgs = [node, ...(v.device ? ['--device', v.device] : ['--to', v.to!]), '--yes', '--inventory', dir];
  if (v.host) burnArgs.push('--host', v.host);
  if (v.image) burnArgs.push('--image', v.image);
  if (v.sha256) burnArgs.push('--sha256', v.sha256);
  if (v.cache) burnArgs.push('--cache', v.cache);
  const code = await burnCommand(burnArgs, io);
  if (code !== 0) return code;

  // The hash the bootstrap's report will carry for its first run of this card.
  const written = v.host ? null : await readBootFile(resolve(target), MANIFEST_PATH).catch(() => null);
  await saveBurnRecord(io.env, { node, manifestSha256: written ? manifestHash(written) : null, burnedAt: new Date().toISOString(), target });

  if (deleteNode) {
    await kubeDelete(`/api/v1/nodes/${encodeURIComponent(node)}`, kube);
    // k3s's controller removes the password secret with the Node; make sure, or the new password is refused.
    const secret = `/api/v1/namespaces/kube-system/secrets/${encodeURIComponent(`${node}.node-password.k3s`)}`;
    if (await kubeGet(secret, kube)) await kubeDelete(secret, kube);
    io.err(`deleted Node ${node} (and its node-password secret): the new identity will be accepted\n`);
  }
  io.out(`Next, on site: insert the card into ${node} and power it on.\n`);
  if (!v.wait) {
    io.out(`Then: metis wait ${node}${v.context ? ` --context ${v.context}` : ''}\n`);
    return 0;
  }
  return waitFor(io, { node, timeoutMs, intervalMs: 5000, context: v.context, kubeconfig: v.kubeconfig, inventory: dir, manifest });
}
