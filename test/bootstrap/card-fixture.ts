import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A card's manifest at ROOT/boot/firmware/metis/node.yaml and the state dir, with a secret store when given. */
export function writeCard(root: string, text: string, store?: Record<string, string>): { file: string; stateDir: string } {
  const file = join(root, 'boot/firmware/metis/node.yaml');
  const stateDir = join(root, 'var/lib/metis');
  mkdirSync(join(file, '..'), { recursive: true });
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(file, text);
  if (store) writeFileSync(join(stateDir, 'secrets.json'), JSON.stringify(store), { mode: 0o600 });
  return { file, stateDir };
}
