import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { ClusterDef } from '../../inventory/schema.js';
import type { Trust } from './check.js';
import { KeyError } from '../../core/signature/errors.js';
import { parsePublicKey } from '../../core/signature/keys.js';

/** The keys and policy of cluster.yaml's `signatures`; null when the cluster sets none (no checks). */
export async function loadTrust(def: ClusterDef['signatures'], inventoryDir: string): Promise<Trust | null> {
  if (!def) return null;
  const file = join(inventoryDir, 'cluster.yaml');
  const keys = [];
  for (const [i, entry] of def.publicKeys.entries()) {
    const where = `${file}: signatures.publicKeys.${i}`;
    let pem = entry;
    if (entry.startsWith('file:')) {
      const p = entry.slice(5);
      const path = isAbsolute(p) ? p : join(inventoryDir, p);
      pem = await readFile(path, 'utf8').catch((cause: unknown) => {
        throw new KeyError(`${where}: cannot read ${path}`, { file, path: `signatures.publicKeys.${i}`, cause });
      });
    }
    keys.push(parsePublicKey(pem, where));
  }
  return { policy: def.policy, keys };
}
