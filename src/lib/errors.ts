/**
 * Every error Metis raises on purpose carries a stable `code`, and where it is about input,
 * the file and the field path, so a message can say exactly what to fix.
 */
export interface MetisErrorOptions {
  /** Dotted field path, e.g. `network.ipv4.address` or `mounts.0.uuid`. */
  path?: string;
  /** File the bad input came from. */
  file?: string;
  /** 1-based line in `file`, when known. */
  line?: number;
  cause?: unknown;
}

export class MetisError extends Error {
  readonly code: string;
  readonly path: string | undefined;
  readonly file: string | undefined;
  readonly line: number | undefined;

  constructor(code: string, message: string, opts: MetisErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.path = opts.path;
    this.file = opts.file;
    this.line = opts.line;
  }
}

/** One problem in a validated document. */
export interface Issue {
  path: string;
  message: string;
  line?: number;
}

/** Input (manifest, inventory, task file, flags) failed validation. Nothing was changed. */
export class ValidationError extends MetisError {
  readonly issues: Issue[];
  constructor(file: string, issues: Issue[]) {
    const lines = issues.map((i) => `  ${file}${i.line ? `:${i.line}` : ''}: ${i.path || '(root)'}: ${i.message}`);
    super('E_VALIDATION', `invalid ${file}:\n${lines.join('\n')}`, { file, path: issues[0]?.path, line: issues[0]?.line });
    this.issues = issues;
  }
}

/** The manifest was written for a newer Metis than this one. */
export class SchemaVersionError extends MetisError {
  constructor(file: string, found: unknown, supported: readonly number[]) {
    super(
      'E_SCHEMA_VERSION',
      `${file}: schemaVersion ${String(found)} is not supported; this metis reads schemaVersion ${supported.join(', ')}. Update metis-bootstrap in the class image.`,
      { file, path: 'schemaVersion' },
    );
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
