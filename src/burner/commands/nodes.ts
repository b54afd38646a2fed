import { parseFlags } from '../../core/flags.js';
import { loadInventory } from '../../inventory/load.js';
import { inventoryDir, type Io } from '../../inventory/io.js';

export const NODES_USAGE = 'usage: metis nodes [--inventory DIR] [--json]\n\nLists the inventory\'s nodes with class, arch, address, k3s role and version, and image.';

/** `metis nodes`: what the inventory holds, no secrets needed. */
export async function nodesCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseFlags('nodes', argv, { inventory: { type: 'string' }, json: { type: 'boolean', default: false } }, false);
  const inv = await loadInventory(inventoryDir(values.inventory));
  const rows = [...inv.nodes.values()].map(({ def: n }) => {
    const c = inv.classes.get(n.class)!.def;
    return {
      hostname: n.hostname,
      class: n.class,
      arch: c.arch,
      address: n.address,
      role: n.k3s?.role ?? c.k3s?.role ?? '-',
      k3s: n.k3s?.version ?? c.k3s?.version ?? '-',
      image: c.image.ref ?? '-',
    };
  });
  if (values.json) {
    io.out(`${JSON.stringify(rows)}\n`);
    return 0;
  }
  const cols = ['hostname', 'class', 'arch', 'address', 'role', 'k3s', 'image'] as const;
  const width = cols.map((k) => Math.max(k.length, ...rows.map((r) => r[k].length)));
  const fmt = (vals: string[]) => vals.map((v, i) => v.padEnd(width[i]!)).join('  ').trimEnd();
  io.out(`${fmt(cols.map((c) => c.toUpperCase()))}\n${rows.map((r) => fmt(cols.map((k) => r[k]))).join('\n')}\n`);
  return 0;
}
