import { parseFlags } from '../../core/flags.js';
import { Redactor } from '../../lib/redact.js';
import { manifestSecrets, serializeManifest } from '../../manifest/load.js';
import { loadInventory } from '../../inventory/load.js';
import { nodeManifest } from '../../inventory/merge.js';
import { UsageError } from './exit-codes.js';
import { escrowNotice } from '../../identity/apply.js';
import { inventoryDir, type Io, resolverFor } from '../../inventory/io.js';

export const MANIFEST_USAGE = 'usage: metis manifest NODE [--inventory DIR] [--reveal-secrets]\n\nPrints the exact manifest a burn writes to metis/node.yaml; secrets masked unless --reveal-secrets.';

/** `metis manifest NODE`: the exact manifest a burn would write; secrets masked unless --reveal-secrets. */
export async function manifestCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags('manifest', argv, { inventory: { type: 'string' }, 'reveal-secrets': { type: 'boolean', default: false } });
  if (positionals.length !== 1) throw new UsageError(MANIFEST_USAGE);
  const dir = inventoryDir(values.inventory);
  const inv = await loadInventory(dir);
  const m = await nodeManifest(inv, positionals[0]!, resolverFor(io, dir));
  const text = serializeManifest(m);
  io.err(`${await escrowNotice(dir, positionals[0]!)}\n`);
  io.out(values['reveal-secrets'] ? text : new Redactor(manifestSecrets(m).map((s) => s.value)).text(text));
  return 0;
}
