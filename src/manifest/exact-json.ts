import { isDeepStrictEqual } from 'node:util';

/**
 * `data` as JSON text when JSON carries it exactly, else undefined: strict deep equality tells -0,
 * NaN, undefined and non-plain objects apart from what JSON makes of them. What the parse caches
 * keep (the bootstrap's manifest, the CLI's inventory) is only what comes back the same.
 */
export function exactJson(data: unknown): string | undefined {
  const json = JSON.stringify({ data });
  return isDeepStrictEqual(data, (JSON.parse(json) as { data: unknown }).data) ? json : undefined;
}
