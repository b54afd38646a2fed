import { createHash } from 'node:crypto';
import { type LineCounter, type parseDocument, stringify } from 'yaml';
import type { z } from 'zod';
import { type Issue, SchemaVersionError, ValidationError } from '../lib/errors.js';
import { manifestSchema, SUPPORTED_SCHEMA_VERSIONS, CURRENT_SCHEMA_VERSION, type Manifest, type ManifestInput } from './schema.js';
import { Redactor } from '../lib/redact.js';
import { type BoundedDoc, parseBounded } from './bounded-yaml.js';
import { findSecrets, type FoundSecret } from './secret.js';

export interface LoadedManifest {
  manifest: Manifest;
  /** sha256 of the file's bytes: what the report records as applied. */
  hash: string;
  secrets: FoundSecret[];
  file: string;
  /** Set when the manifest did not come from `file` as it is (a fallback the run must report). */
  notice?: string;
}

/**
 * Parses YAML (bounded: size, depth, aliases, duplicate and complex keys; see bounded-yaml.ts) and
 * validates it with a zod schema; every error names the file and the field path or the line.
 * Shared by the manifest, the inventory and task files. Secret values found in the raw document
 * (at secret fields, or shaped like a k3s token or a private key) never reach the message, also
 * when the document does not validate.
 */
export function parseYamlWith<S extends z.ZodType>(schema: S, text: string, file: string): z.output<S> {
  return validateParsed(schema, parseBounded(text, file), file);
}

export function validateParsed<S extends z.ZodType>(schema: S, b: BoundedDoc, file: string): z.output<S> {
  const result = schema.safeParse(b.data);
  if (result.success) return result.data;
  const redact = rawSecrets(schema, b.data);
  const issues = zodIssues(result.error, (path) => lineOf(b.doc, b.lineCounter, path) ?? 1).map((i) => ({ ...i, path: redact.text(i.path), message: redact.text(i.message) }));
  throw new ValidationError(file, issues);
}

const SECRET_SHAPES = [/K10[0-9a-f]{64}::[^:\s]+:\S+/g, /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g];

/** Strings in `text` shaped like a secret (a k3s token, a private key), wherever they are. */
export function secretShapes(text: string): string[] {
  return SECRET_SHAPES.flatMap((re) => [...text.matchAll(re)].map((m) => m[0]));
}

/** Secrets in a document that may not validate: values at secret fields, and anything shaped like one (keys too). */
export function rawSecrets(schema: z.ZodType, data: unknown): Redactor {
  const values = findSecrets(schema, data).map((s) => s.value);
  const walk = (v: unknown, depth: number): void => {
    if (depth > 70) return;
    if (typeof v === 'string') for (const re of SECRET_SHAPES) for (const m of v.matchAll(re)) values.push(m[0]);
    else if (Array.isArray(v)) v.forEach((x) => walk(x, depth + 1));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) (walk(k, depth + 1), walk(x, depth + 1));
  };
  walk(data, 0);
  return new Redactor(values);
}

type ZodIssue = z.ZodError['issues'][number];

/** A bad record key (e.g. a label key) arrives as one issue wrapping the key's own issues: unwrap them at the key's path. */
function unwrapKeyIssues(i: ZodIssue): ZodIssue[] {
  if (i.code !== 'invalid_key') return [i];
  const key = (i as { key?: unknown }).key;
  const at = key === undefined ? i.path : [...i.path, String(key)];
  return i.issues.map((inner) => ({ ...inner, path: at }) as ZodIssue);
}

function shownKey(k: string): string {
  return /^[A-Za-z][A-Za-z0-9_-]{0,39}$/.test(k) ? k : `[a key of ${k.length} characters, not shown]`;
}

export function zodIssues(error: z.ZodError, lineFor?: (path: PropertyKey[]) => number | undefined): Issue[] {
  return error.issues.flatMap(unwrapKeyIssues).map((i) => {
    const path = i.path.map(String);
    // An unknown key is shown only when it looks like a field name: a secret pasted as a key must not be echoed.
    const unknownKeys = i.code === 'unrecognized_keys' ? (i as { keys: string[] }).keys.map(shownKey) : [];
    const fullPath = unknownKeys.length === 1 ? [...path, unknownKeys[0]!] : path;
    return {
      path: fullPath.join('.'),
      message: unknownKeys.length ? `unknown key${unknownKeys.length > 1 ? 's' : ''} ${unknownKeys.map((k) => (k.startsWith('[') ? k : `"${k}"`)).join(', ')}` : i.message,
      line: lineFor?.(fullPath),
    };
  });
}

export function lineOf(doc: ReturnType<typeof parseDocument>, lc: LineCounter, path: PropertyKey[]): number | undefined {
  // Walk up until a node exists (a missing key is reported at its parent).
  for (let n = path.length; n >= 0; n--) {
    const sub = path.slice(0, n).map((p) => (typeof p === 'string' && /^\d+$/.test(p) ? Number(p) : p));
    const node = n === 0 ? doc.contents : doc.getIn(sub as unknown[], true);
    const range = (node as { range?: [number, number, number] } | undefined)?.range;
    if (range) {
      // For a key that exists, point at the key's line rather than its value's.
      return lc.linePos(range[0]).line;
    }
  }
  return undefined;
}

/**
 * Parses and validates manifest text. `restore` may rewrite the parsed data before validation (the
 * bootstrap puts secrets scrubbed from the card back): one parse, and errors still name the
 * file's lines. The hash is of the text as given.
 */
export function parseManifest(text: string, file = 'node.yaml', restore?: (data: unknown) => unknown): LoadedManifest {
  return manifestFromParsed(parseBounded(text, file), text, file, restore);
}

/**
 * parseManifest's second half, for `data` parsed from `text` earlier (a cache of the parse: the
 * bootstrap's, src/bootstrap/manifest-cache.ts). Without the document (no line numbers to give), a
 * manifest that does not validate is parsed again for its error.
 */
export function manifestFromParsed(b: BoundedDoc | { data: unknown }, text: string, file: string, restore?: (data: unknown) => unknown): LoadedManifest {
  const version = b.data && typeof b.data === 'object' ? (b.data as { schemaVersion?: unknown }).schemaVersion : undefined;
  const supported = typeof version !== 'number' || (SUPPORTED_SCHEMA_VERSIONS as readonly number[]).includes(version);
  if (!('doc' in b)) {
    const r = supported ? manifestSchema.safeParse(restore ? restore(b.data) : b.data) : undefined;
    return r?.success ? loadedManifest(r.data, text, file) : parseManifest(text, file, restore);
  }
  if (!supported) throw new SchemaVersionError(file, version as number, SUPPORTED_SCHEMA_VERSIONS);
  return loadedManifest(validateParsed(manifestSchema, restore ? { ...b, data: restore(b.data) } : b, file), text, file);
}

function loadedManifest(manifest: Manifest, text: string, file: string): LoadedManifest {
  return {
    manifest,
    hash: createHash('sha256').update(text).digest('hex'),
    secrets: findSecrets(manifestSchema, manifest),
    file,
  };
}

/** Validates an object (e.g. merged from inventory) as a manifest; throws ValidationError. */
export function validateManifest(input: unknown, file = 'manifest'): Manifest {
  const r = manifestSchema.safeParse(input);
  if (r.success) return r.data;
  const redact = rawSecrets(manifestSchema, input);
  throw new ValidationError(file, zodIssues(r.error).map((i) => ({ ...i, path: redact.text(i.path), message: redact.text(i.message) })));
}

/** The canonical YAML the burner writes to the card and the bootstrap reads back. */
export function serializeManifest(m: ManifestInput | Manifest): string {
  const body = stringify({ ...m, schemaVersion: m.schemaVersion ?? CURRENT_SCHEMA_VERSION }, { lineWidth: 0 });
  return `# Metis node manifest: read by metis-bootstrap on every boot. Secrets in it are scrubbed\n# from the card after the first successful converge.\n${body}`;
}

export function manifestSecrets(m: Manifest): FoundSecret[] {
  return findSecrets(manifestSchema, m);
}
