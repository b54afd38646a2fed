import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MetisError } from '../lib/errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** A flag the command does not know, or one missing its value: usage (exit 2), with the nearest valid flag. */
export class FlagError extends MetisError {
  constructor(message: string) {
    super('E_USAGE', message);
  }
}

/** Edit distance (insert, delete, substitute, swap of neighbours), for "did you mean". */
export function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The known flag closest to `given`, when it is close enough to be a slip (or `given` is a prefix of it). */
export function closestFlag(given: string, known: string[]): string | undefined {
  const g = given.replace(/^-+/, '').split('=')[0]!;
  const prefixed = known.filter((k) => k.startsWith(g));
  if (g.length >= 2 && prefixed.length === 1) return prefixed[0];
  const ranked = known.map((k) => ({ k, d: distance(g, k) })).sort((a, b) => a.d - b.d);
  const best = ranked[0];
  return best && best.d <= Math.max(1, Math.floor(g.length / 3)) ? best.k : undefined;
}

/**
 * node's parseArgs with messages an operator can act on: "unknown flag --colour (did you mean
 * --color?)" instead of the parser's own text, which names internals and suggests `--` escapes.
 */
export function parseFlags<T extends Options>(command: string, argv: string[], options: T, allowPositionals = true) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals });
  } catch (e) {
    const code = (e as { code?: string }).code ?? '';
    const msg = (e as Error).message;
    const flag = /'(-{1,2}[^'\s]+)/.exec(msg)?.[1] ?? /(--?[A-Za-z][\w-]*)/.exec(msg)?.[1] ?? '';
    const known = Object.keys(options);
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const near = closestFlag(flag, known);
      throw new FlagError(`${command}: unknown flag ${flag}${near ? ` (did you mean --${near}?)` : ''}; see metis help ${command.split(" ")[0]}`);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const name = flag.replace(/^-+/, '').split('=')[0]!;
      const opt = options[name];
      throw new FlagError(opt?.type === 'string' ? `${command}: ${flag} needs a value; see metis help ${command.split(" ")[0]}` : `${command}: ${flag} takes no value; see metis help ${command.split(" ")[0]}`);
    }
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new FlagError(`${command}: unexpected argument ${/'([^']+)'/.exec(msg)?.[1] ?? ''}; see metis help ${command.split(" ")[0]}`);
    throw e;
  }
}
