/** What a secret value is replaced with wherever it would be printed. */
export const REDACTED = '[redacted]';

/**
 * Value-based redaction, as Ansible's no_log masks values: any occurrence of a known secret
 * in any string is replaced, so a token embedded in a rendered file or an error message is
 * caught as surely as the field itself.
 */
export class Redactor {
  private readonly values: string[];

  constructor(values: Iterable<string>) {
    // Longest first, so a secret that contains another is replaced whole.
    // A multi-line secret (a private key) is printed re-indented by YAML: redact each of its lines
    // too, except PEM armor lines, which are not secret.
    const all = [...values].flatMap((v) => (v.includes('\n') ? [v, ...v.split('\n').map((l) => l.trim()).filter((l) => l.length >= 16 && !/^-----(BEGIN|END) /.test(l))] : [v]));
    this.values = [...new Set(all.filter((v) => v.length >= 4))].sort((a, b) => b.length - a.length);
  }

  text(s: string): string {
    let out = s;
    for (const v of this.values) if (out.includes(v)) out = out.split(v).join(REDACTED);
    return out;
  }

  /** Deep copy with every string redacted. */
  deep<T>(value: T): T {
    if (typeof value === 'string') return this.text(value) as T;
    if (Array.isArray(value)) return value.map((v) => this.deep(v)) as T;
    if (value instanceof Error) return this.text(value.message) as T;
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.deep(v)])) as T;
    }
    return value;
  }
}
