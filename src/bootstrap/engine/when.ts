import { MetisError } from '../../lib/errors.js';

/**
 * `when` is a tiny grammar, never eval: `PATH`, `not PATH`, `PATH == LITERAL`, `PATH != LITERAL`.
 * PATH is dotted (k3s.role, mounts.0.path); LITERAL is a quoted string, a number, true, false or null.
 */
export type WhenExpr =
  | { kind: 'truthy'; path: string[]; negate: boolean }
  | { kind: 'compare'; path: string[]; op: '==' | '!='; value: string | number | boolean | null };

const PATH = String.raw`[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*`;
const TRUTHY = new RegExp(`^(not\\s+)?(${PATH})$`);
const COMPARE = new RegExp(`^(${PATH})\\s*(==|!=)\\s*(.+)$`);

export function parseWhen(src: string): WhenExpr {
  const s = src.trim();
  const t = TRUTHY.exec(s);
  if (t) return { kind: 'truthy', path: t[2]!.split('.'), negate: Boolean(t[1]) };
  const c = COMPARE.exec(s);
  if (c) return { kind: 'compare', path: c[1]!.split('.'), op: c[2] as '==' | '!=', value: parseLiteral(c[3]!.trim(), src) };
  throw new MetisError('E_WHEN', `cannot parse when "${src}": expected PATH, not PATH, PATH == LITERAL or PATH != LITERAL`);
}

function parseLiteral(lit: string, src: string): string | number | boolean | null {
  if (lit === 'true') return true;
  if (lit === 'false') return false;
  if (lit === 'null') return null;
  if (/^-?\d+(\.\d+)?$/.test(lit)) return Number(lit);
  const q = /^(['"])(.*)\1$/.exec(lit);
  if (q && !q[2]!.includes(q[1]!)) return q[2]!;
  throw new MetisError('E_WHEN', `cannot parse when "${src}": literal ${lit} must be a quoted string, a number, true, false or null`);
}

export function lookupPath(data: unknown, path: readonly string[]): unknown {
  let cur: unknown = data;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

export function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (v && typeof v === 'object') return Object.keys(v).length > 0;
  if (typeof v === 'number') return v !== 0 && !Number.isNaN(v);
  if (typeof v === 'string') return v.length > 0;
  return v === true;
}

export function evalWhen(expr: WhenExpr, data: unknown): boolean {
  const v = lookupPath(data, expr.path);
  if (expr.kind === 'truthy') return truthy(v) !== expr.negate;
  const equal = (v ?? null) === expr.value;
  return expr.op === '==' ? equal : !equal;
}
