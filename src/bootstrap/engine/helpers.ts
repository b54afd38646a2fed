import type { HelperDelegate } from 'handlebars';
import { stringify } from 'yaml';

/**
 * Handlebars helpers available in task args and templates. One plain map; add entries here.
 * Helpers get positional args followed by handlebars' options object, which they ignore.
 */
const positional = (args: unknown[]): unknown[] => args.slice(0, -1);

/**
 * Handlebars' strict mode checks plain `{{path}}` lookups but not helper arguments, so helpers
 * refuse undefined themselves: a typo in a path is an error, never an empty string in a config.
 */
function required(args: unknown[], helper: string): unknown[] {
  const opts = args[args.length - 1] as { loc?: { start?: { line?: number } } } | undefined;
  const pos = positional(args);
  if (pos.length === 0 || pos[0] === undefined) {
    throw new Error(`helper "${helper}" got an undefined value (a missing manifest field?) at template line ${opts?.loc?.start?.line ?? '?'}`);
  }
  return pos;
}

function cidrParts(v: unknown): [string, number] {
  const s = String(v);
  const i = s.lastIndexOf('/');
  if (i < 0) throw new Error(`"${s}" is not address/prefix`);
  return [s.slice(0, i), Number(s.slice(i + 1))];
}

export const helpers: Record<string, HelperDelegate> = {
  json: (...a: unknown[]) => JSON.stringify(required(a, 'json')[0]),
  yaml: (...a: unknown[]) => stringify(required(a, 'yaml')[0], { lineWidth: 0 }).trimEnd(),
  /** join LIST [SEP=" "] */
  join: (...a: unknown[]) => {
    const [list, sep] = required(a, 'join');
    return (Array.isArray(list) ? list : []).map(String).join(typeof sep === 'string' ? sep : ' ');
  },
  /** "192.168.22.13/24" → "192.168.22.13" */
  cidrAddress: (...a: unknown[]) => cidrParts(required(a, 'cidrAddress')[0])[0],
  /** "192.168.22.13/24" → 24 */
  cidrPrefix: (...a: unknown[]) => cidrParts(required(a, 'cidrPrefix')[0])[1],
  eq: (...a: unknown[]) => {
    const [x, y] = positional(a);
    return x === y;
  },
  lower: (...a: unknown[]) => String(required(a, 'lower')[0]).toLowerCase(),
  /** default VALUE FALLBACK: the fallback when VALUE is undefined/null/"" */
  default: (...a: unknown[]) => {
    const [v, d] = positional(a);
    return v === undefined || v === null || v === '' ? d : v;
  },
};
