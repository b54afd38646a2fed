import { isScalar, LineCounter, parseDocument, visit } from 'yaml';
import { type Issue, ValidationError } from '../lib/errors.js';

/** A manifest is a few KiB; an inventory file rarely more. Anything larger is refused unread. */
export const MAX_YAML_BYTES = 1024 * 1024;
/** The deepest manifest field is 6 levels down; 64 leaves room and stops a nesting bomb. */
export const MAX_YAML_DEPTH = 64;
/** Aliases a document may expand (yaml's own guard against a "billion laughs"). */
export const MAX_ALIAS_COUNT = 100;

export interface BoundedDoc {
  doc: ReturnType<typeof parseDocument>;
  lineCounter: LineCounter;
  data: unknown;
}

const fail = (file: string, issues: Issue[]): ValidationError => new ValidationError(file, issues);

/**
 * Nesting depth, estimated from the text before any parsing (a YAML parser recurses, and a
 * megabyte of "[" or "- - - -" costs seconds and gigabytes): flow brackets outside quotes and
 * comments, plus block levels by indentation and compact "- " / "? " indicators. Returns the first
 * line that goes deeper than `max`.
 */
export function tooDeepAt(text: string, max = MAX_YAML_DEPTH): number | undefined {
  const indents: number[] = [];
  let flow = 0;
  let line = 1;
  let quote: string | null = null;
  let i = 0;
  while (i < text.length) {
    const lineStart = i;
    let end = text.indexOf('\n', i);
    if (end < 0) end = text.length;
    let j = i;
    if (!quote && flow === 0) {
      while (j < end && text[j] === ' ') j++;
      const indent = j - lineStart;
      if (j < end && text[j] !== '#') {
        while (indents.length && indents.at(-1)! >= indent) indents.pop();
        indents.push(indent);
        let compact = 0;
        while (j + 1 < end && (text[j] === '-' || text[j] === '?') && text[j + 1] === ' ') {
          compact++;
          j += 2;
          while (j < end && text[j] === ' ') j++;
        }
        if (indents.length + compact > max) return line;
      }
    }
    for (; j < end; j++) {
      const c = text[j]!;
      if (quote) {
        if (c === quote) {
          if (quote === "'" && text[j + 1] === "'") j++;
          else quote = null;
        } else if (c === '\\' && quote === '"') j++;
      } else if (c === '#' && (j === lineStart || text[j - 1] === ' ' || text[j - 1] === '\t')) break;
      else if (c === '"' || (c === "'" && (j === lineStart || /[\s,[{:]/.test(text[j - 1]!)))) quote = c;
      else if (c === '[' || c === '{') {
        if (++flow + indents.length > max) return line;
      } else if ((c === ']' || c === '}') && flow > 0) flow--;
    }
    i = end + 1;
    line++;
  }
  return undefined;
}

function depthOf(value: unknown, max: number, depth = 0): boolean {
  if (depth > max) return false;
  if (Array.isArray(value)) return value.every((v) => depthOf(v, max, depth + 1));
  if (value && typeof value === 'object') return Object.values(value).every((v) => depthOf(v, max, depth + 1));
  return true;
}

/**
 * Parses YAML within bounds, every refusal naming the file and a line: size, nesting depth,
 * syntax, duplicate keys (one pass with a Set per mapping, not yaml's pairwise check), keys that
 * are not plain scalars, aliases beyond MAX_ALIAS_COUNT, and an empty document.
 */
export function parseBounded(text: string, file: string): BoundedDoc {
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_YAML_BYTES) {
    throw fail(file, [{ path: '', line: 1, message: `file is ${bytes} bytes; the limit is ${MAX_YAML_BYTES} (1 MiB)` }]);
  }
  const deep = tooDeepAt(text);
  if (deep !== undefined) throw fail(file, [{ path: '', line: deep, message: `nesting deeper than ${MAX_YAML_DEPTH} levels` }]);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false, prettyErrors: true });
  if (doc.errors.length > 0) {
    // yaml quotes the offending token ("Unexpected scalar token ...: \"K10...\""): it may be a secret, and the line and column say where.
    const quiet = (m: string) => m.replace(/"((?:[^"\\]|\\.)*)"/g, (q, inner: string) => (inner.length <= 3 ? q : '(text not shown)'));
    throw fail(file, doc.errors.slice(0, 20).map((e) => ({ path: '', message: quiet(e.message.split('\n')[0] ?? e.message), line: e.linePos?.[0]?.line ?? 1 })));
  }
  const lineAt = (node: unknown): number => {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    return range ? lineCounter.linePos(range[0]).line : 1;
  };
  const issues: Issue[] = [];
  let aliases = 0;
  let firstAlias: unknown;
  visit(doc, {
    Map(_k, map) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        if (!isScalar(pair.key) || (pair.key.value !== null && typeof pair.key.value === 'object')) {
          issues.push({ path: '', line: lineAt(pair.key), message: 'keys must be plain scalars (no complex "? " keys, sequences, mappings or aliases as keys)' });
          continue;
        }
        const key = String(pair.key.value);
        if (seen.has(key)) issues.push({ path: '', line: lineAt(pair.key), message: `duplicate key "${key.length > 64 ? `${key.slice(0, 61)}...` : key}"` });
        seen.add(key);
      }
    },
    Alias(_k, node) {
      aliases++;
      firstAlias ??= node;
    },
  });
  if (issues.length) throw fail(file, issues.slice(0, 20));
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    throw fail(file, [{ path: '', line: 1, message: 'file is empty: expected a YAML mapping' }]);
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    const line = firstAlias ? lineAt(firstAlias) : 1;
    throw fail(file, [{ path: '', line, message: `aliases expand too far (${aliases} aliases; at most ${MAX_ALIAS_COUNT} expansions): ${(e as Error).message.split('\n')[0]}` }]);
  }
  if (!depthOf(data, MAX_YAML_DEPTH)) {
    throw fail(file, [{ path: '', line: firstAlias ? lineAt(firstAlias) : 1, message: `nesting deeper than ${MAX_YAML_DEPTH} levels (after aliases)` }]);
  }
  return { doc, lineCounter, data };
}
