import { createHash } from 'node:crypto';
import { LineCounter, parseDocument, stringify } from 'yaml';
import type { z } from 'zod';
import { type Issue, SchemaVersionError, ValidationError } from '../lib/errors.js';
import { manifestSchema, SUPPORTED_SCHEMA_VERSIONS, CURRENT_SCHEMA_VERSION, type Manifest, type ManifestInput } from './schema.js';
import { findSecrets, type FoundSecret } from './secret.js';

export interface LoadedManifest {
  manifest: Manifest;
  /** sha256 of the file's bytes: what the report records as applied. */
  hash: string;
  secrets: FoundSecret[];
  file: string;
}

/**
 * Parses YAML and validates it with a zod schema; every error names the field path and the
 * line it came from. Shared by the manifest, the inventory and task files.
 */
export function parseYamlWith<S extends z.ZodType>(schema: S, text: string, file: string): z.output<S> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ValidationError(
      file,
      doc.errors.map((e) => ({ path: '', message: e.message.split('\n')[0] ?? e.message, line: e.linePos?.[0]?.line })),
    );
  }
  const data = doc.toJS({ maxAliasCount: 100 }) as unknown;
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  throw new ValidationError(file, zodIssues(result.error, (path) => lineOf(doc, lineCounter, path)));
}

type ZodIssue = z.ZodError['issues'][number];

/** A bad record key (e.g. a label key) arrives as one issue wrapping the key's own issues: unwrap them at the key's path. */
function unwrapKeyIssues(i: ZodIssue): ZodIssue[] {
  if (i.code !== 'invalid_key') return [i];
  const key = (i as { key?: unknown }).key;
  const at = key === undefined ? i.path : [...i.path, String(key)];
  return i.issues.map((inner) => ({ ...inner, path: at }) as ZodIssue);
}

export function zodIssues(error: z.ZodError, lineFor?: (path: PropertyKey[]) => number | undefined): Issue[] {
  return error.issues.flatMap(unwrapKeyIssues).map((i) => {
    const path = i.path.map(String);
    const unknownKeys = i.code === 'unrecognized_keys' ? (i as { keys: string[] }).keys : [];
    const fullPath = unknownKeys.length === 1 ? [...path, unknownKeys[0]!] : path;
    return {
      path: fullPath.join('.'),
      message: unknownKeys.length ? `unknown key${unknownKeys.length > 1 ? 's' : ''} ${unknownKeys.map((k) => `"${k}"`).join(', ')}` : i.message,
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

export function parseManifest(text: string, file = 'node.yaml'): LoadedManifest {
  const raw = (() => {
    try {
      return parseDocument(text).toJS() as { schemaVersion?: unknown } | null;
    } catch {
      return null;
    }
  })();
  const version = raw && typeof raw === 'object' ? raw.schemaVersion : undefined;
  if (typeof version === 'number' && !(SUPPORTED_SCHEMA_VERSIONS as readonly number[]).includes(version)) {
    throw new SchemaVersionError(file, version, SUPPORTED_SCHEMA_VERSIONS);
  }
  const manifest = parseYamlWith(manifestSchema, text, file);
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
  if (!r.success) throw new ValidationError(file, zodIssues(r.error));
  return r.data;
}

/** The canonical YAML the burner writes to the card and the bootstrap reads back. */
export function serializeManifest(m: ManifestInput | Manifest): string {
  const body = stringify({ ...m, schemaVersion: m.schemaVersion ?? CURRENT_SCHEMA_VERSION }, { lineWidth: 0 });
  return `# Metis node manifest: read by metis-bootstrap on every boot. Secrets in it are scrubbed\n# from the card after the first successful converge.\n${body}`;
}

export function manifestSecrets(m: Manifest): FoundSecret[] {
  return findSecrets(manifestSchema, m);
}
