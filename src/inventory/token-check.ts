import { K10_TOKEN } from '../manifest/fields.js';

/**
 * What is wrong with a join token, in words that never contain it: its length, whether it starts
 * with K10, where it stops matching `K10<64 hex>::<user>:<password>`, and stray whitespace (the
 * usual culprit when it came from `export` or a copied line). null when it is fine.
 */
export function tokenProblem(token: string, needsSecureForm: boolean): string | null {
  const n = token.length;
  if (/^\s/.test(token)) return `it starts with whitespace (${n} characters in all)`;
  if (/\s$/.test(token)) return `it ends with whitespace — a trailing space or newline (${n} characters in all)`;
  if (/\s/.test(token)) return `it contains whitespace (${n} characters in all)`;
  if (n < 16) return `it is ${n} characters long; a token is at least 16`;
  if (!needsSecureForm || K10_TOKEN.test(token)) return null;
  if (!token.startsWith('K10')) return `it does not start with K10 (${n} characters): an agent joins with the server's secure token, K10<64 hex>::<user>:<password> (/var/lib/rancher/k3s/server/node-token)`;
  const hex = /^K10([0-9a-fA-F]*)/.exec(token)![1]!.length;
  if (hex !== 64) return `after K10 come ${hex} hex characters, not the 64 of the CA hash (${n} characters in all)`;
  if (/[A-F]/.test(token.slice(3, 67))) return 'the CA hash after K10 has upper-case hex; k3s writes it lower-case';
  if (!token.slice(67).startsWith('::')) return 'the CA hash is not followed by "::<user>:<password>"';
  return 'the part after "::" is not <user>:<password>';
}
