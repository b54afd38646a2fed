import { parseArgs } from 'node:util';
import { kubeGet } from '../lib/kubectl.js';
import { manifestHash } from '../manifest/hash.js';
import { loadInventory } from '../inventory/load.js';
import { nodeManifest } from '../inventory/merge.js';
import { inventoryDir, type Io } from '../inventory/io.js';
import { fleetCommand, usage } from './exit.js';
import { formatAge, statusExit, statusRow, type KubeNode, type StatusRow } from './status-rows.js';
import { table } from './table.js';
import { secretResolver } from '../inventory/secrets.js';
import { selectNodes, statusSecrets } from './targets.js';

export const STATUS_USAGE = 'usage: metis status [NODE…] [--json] [--context C] [--kubeconfig FILE] [--inventory DIR]';

/**
 * `metis status`: the fleet from the cluster API alone (one `kubectl get --raw /api/v1/nodes`, no
 * SSH): each inventory node's Ready, MetisConverged and its age, drift, kubelet against the pinned
 * version, and its manifest hash against what the inventory would burn now.
 */
export const statusCommand = fleetCommand('status', async (argv: string[], io: Io): Promise<number> => {
  const { values, positionals } = usage(STATUS_USAGE, () =>
    parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: { json: { type: 'boolean', default: false }, context: { type: 'string' }, kubeconfig: { type: 'string' }, inventory: { type: 'string' } },
    }),
  );
  const inv = await loadInventory(inventoryDir(values.inventory));
  const nodes = selectNodes(inv, positionals);
  const want = new Map<string, string>();
  const resolve = statusSecrets(secretResolver(inv.dir, io.env));
  for (const n of nodes) want.set(n.name, manifestHash(await nodeManifest(inv, n.name, resolve)));
  const list = await kubeGet<{ items: KubeNode[] }>('/api/v1/nodes', { context: values.context, kubeconfig: values.kubeconfig, env: io.env, signal: io.signal });
  const byName = new Map((list?.items ?? []).map((n) => [n.metadata.name, n]));
  const now = new Date();
  const rows = nodes.map((n) => statusRow(n.name, byName.get(n.name), { hash: want.get(n.name)!, k3sVersion: n.k3sVersion }, now));
  io.out(values.json ? `${JSON.stringify(rows, null, 2)}\n` : render(rows));
  return statusExit(rows);
});

function render(rows: StatusRow[]): string {
  const body = rows.map((r) => [
    r.node,
    r.ready ?? '-',
    r.converged,
    r.reason,
    formatAge(r.ageSeconds),
    r.drift === null ? '-' : String(r.drift),
    r.kubelet === null ? '-' : r.pinned && r.kubelet !== r.pinned ? `${r.kubelet}≠${r.pinned}` : r.kubelet,
    r.manifest,
  ]);
  let out = table(['NODE', 'READY', 'CONVERGED', 'REASON', 'LAST RUN', 'DRIFT', 'KUBELET', 'MANIFEST'], body);
  const notes = rows.flatMap((r) => r.notes.map((n) => `  ${r.node}: ${n}`));
  if (notes.length) out += `\n${notes.join('\n')}\n`;
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.verdict, (counts.get(r.verdict) ?? 0) + 1);
  out += `\n${rows.length} node${rows.length === 1 ? '' : 's'}: ${[...counts].map(([k, v]) => `${v} ${k}`).join(', ')}\n`;
  return out;
}
