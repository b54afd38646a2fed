import type { HelperDelegate } from 'handlebars';
import { stringify } from 'yaml';

/**
 * Handlebars helpers available in task args and templates. One plain map; add entries here.
 * Helpers get positional args followed by handlebars' options object, which they ignore.
 */
const positional = (args: unknown[]): unknown[] => args.slice(0, -1);

function cidrParts(v: unknown): [string, number] {
  const s = String(v);
  const i = s.lastIndexOf('/');
  if (i < 0) throw new Error(`"${s}" is not address/prefix`);
  return [s.slice(0, i), Number(s.slice(i + 1))];
}

export const helpers: Record<string, HelperDelegate> = {
  json: (...a: unknown[]) => JSON.stringify(positional(a)[0]),
  yaml: (...a: unknown[]) => stringify(positional(a)[0], { lineWidth: 0 }).trimEnd(),
  /** join LIST [SEP=" "] */
  join: (...a: unknown[]) => {
    const [list, sep] = positional(a);
    return (Array.isArray(list) ? list : []).map(String).join(typeof sep === 'string' ? sep : ' ');
  },
  /** "192.168.22.13/24" → "192.168.22.13" */
  cidrAddress: (...a: unknown[]) => cidrParts(positional(a)[0])[0],
  /** "192.168.22.13/24" → 24 */
  cidrPrefix: (...a: unknown[]) => cidrParts(positional(a)[0])[1],
  eq: (...a: unknown[]) => {
    const [x, y] = positional(a);
    return x === y;
  },
  lower: (...a: unknown[]) => String(positional(a)[0]).toLowerCase(),
  /** default VALUE FALLBACK: the fallback when VALUE is undefined/null/"" */
  default: (...a: unknown[]) => {
    const [v, d] = positional(a);
    return v === undefined || v === null || v === '' ? d : v;
  },
};
