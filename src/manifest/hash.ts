import { createHash } from 'node:crypto';
import { manifestSchema, type Manifest } from './schema.js';
import { findSecrets } from './secret.js';

/** What stands in for a secret's value in the hashed form: its presence counts, its value does not. */
const SECRET_MARK = '[secret]';

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function setAt(obj: Record<string, unknown>, path: string, v: unknown): void {
  const keys = path.split('.');
  let cur: Record<string, unknown> = obj;
  for (const k of keys.slice(0, -1)) cur = cur[k] as Record<string, unknown>;
  cur[keys[keys.length - 1]!] = v;
}

/**
 * The fleet's one manifest hash, computed the same way by the node (on what it converged to) and by
 * the operator (on what the inventory would burn now): sha256 of the validated manifest as canonical
 * JSON (sorted keys, defaults filled in), without the burner's informational `burn` stamp, and with
 * every secret's value replaced by a fixed mark. Secret values are left out because the hash is
 * published as a Node annotation, readable by anything that may read Nodes: a hash over a short
 * node password could be guessed offline. So a changed secret alone does not change the hash
 * (docs/fleet.md says how to roll a secret); a secret added or removed does.
 */
export function manifestHash(m: Manifest): string {
  const { burn: _burn, ...rest } = m;
  const copy = JSON.parse(JSON.stringify(rest)) as Record<string, unknown>;
  for (const s of findSecrets(manifestSchema, m)) setAt(copy, s.path, SECRET_MARK);
  return createHash('sha256').update(canonical(copy)).digest('hex');
}
