import { resolve } from 'node:path';
import { UsageError } from './exit-codes.js';
import type { Io } from '../../inventory/io.js';

/**
 * `--age-key FILE` works with every command (each may open sealed secrets): it is taken out of
 * argv here and handed on as METIS_AGE_KEY_FILE, which src/identity/age.ts reads first.
 */
export function takeAgeKey(argv: string[], io: Io): [string[], Io] {
  const rest: string[] = [];
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (a === '--age-key') {
      const next = argv[i + 1];
      if (!next || next.startsWith('--')) throw new UsageError('--age-key needs a FILE');
      file = next;
      i++;
    } else if (a.startsWith('--age-key=')) file = a.slice('--age-key='.length);
    else rest.push(a);
  }
  if (!file) return [rest, io];
  return [rest, { ...io, env: { ...io.env, METIS_AGE_KEY_FILE: resolve(file) } }];
}
