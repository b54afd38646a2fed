import { isScalar, Lexer, LineCounter, parseDocument, visit } from 'yaml';
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
 * Nesting depth, checked before the document is built (a YAML parser recurses, and a megabyte of
 * "[" or "- - - -" costs seconds and gigabytes). Block nesting from the lines: a stack of
 * indentation columns plus compact "- " / "? " indicators (quotes and block scalars are not
 * interpreted: a string would need 64 ever-deeper continuation lines to be refused). Flow nesting
 * from yaml's own lexer, which knows quotes and block scalars, stopping at the first level too deep.
 * Returns the line of the first place deeper than `max`.
 */
export function tooDeepAt(text: string, max = MAX_YAML_DEPTH): number | undefined {
  const indents: number[] = [];
  let line = 0;
  for (let i = 0; i <= text.length; ) {
    line++;
    let end = text.indexOf('\n', i);
    if (end < 0) end = text.length;
    let j = i;
    while (j < end && text[j] === ' ') j++;
    const indent = j - i;
    if (j < end && text[j] !== '#' && text[j] !== '\r') {
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
    i = end + 1;
  }
  let flow = 0;
  line = 1;
  for (const token of new Lexer().lex(text)) {
    if (token === '[' || token === '{') {
      if (++flow > max) return line;
    } else if (token === ']' || token === '}') flow = Math.max(0, flow - 1);
    for (let k = token.indexOf('\n'); k >= 0; k = token.indexOf('\n', k + 1)) line++;
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
