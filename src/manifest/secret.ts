import { z } from 'zod';
import { REDACTED } from '../lib/redact.js';

/**
 * Secret fields are marked once, here, by registering their schema. Everything that prints
 * (logs, diffs, reports, errors) redacts the values found at those fields; see `findSecrets`.
 */
export const secretRegistry = z.registry<{ secret: true }>();

export function secret<T extends z.ZodType>(schema: T): T {
  secretRegistry.add(schema, { secret: true });
  return schema;
}

export { REDACTED };

export interface FoundSecret {
  path: string;
  value: string;
}

type Def = {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  options?: z.ZodType[];
};

function defOf(schema: z.ZodType): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

/** Walks a parsed value alongside its schema and returns every value at a secret-marked field. */
export function findSecrets(schema: z.ZodType, value: unknown, path = ''): FoundSecret[] {
  if (value === undefined || value === null) return [];
  if (secretRegistry.has(schema)) {
    return typeof value === 'string' && value.length > 0 ? [{ path, value }] : [];
  }
  const def = defOf(schema);
  const join = (k: string | number) => (path ? `${path}.${k}` : String(k));
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      return def.innerType ? findSecrets(def.innerType, value, path) : [];
    case 'pipe':
      return [...(def.in ? findSecrets(def.in, value, path) : []), ...(def.out ? findSecrets(def.out, value, path) : [])];
    case 'object': {
      if (typeof value !== 'object') return [];
      const rec = value as Record<string, unknown>;
      return Object.entries(def.shape ?? {}).flatMap(([k, s]) => findSecrets(s, rec[k], join(k)));
    }
    case 'array':
      return Array.isArray(value) && def.element ? value.flatMap((v, i) => findSecrets(def.element!, v, join(i))) : [];
    case 'record':
      return typeof value === 'object' && def.valueType
        ? Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => findSecrets(def.valueType!, v, join(k)))
        : [];
    case 'union':
      return (def.options ?? []).flatMap((o) => findSecrets(o, value, path)).filter(
        (s, i, all) => all.findIndex((x) => x.path === s.path && x.value === s.value) === i,
      );
    default:
      return [];
  }
}
