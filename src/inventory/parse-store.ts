// The inventory's YAML, parsed once per text (issue 14: every command reads the whole inventory,
// and a burn waits for it before its first write). The bounded YAML parse was most of that time
// (src/manifest/bounded-yaml.ts; ≈ 25–30 ms for the example lab's 15 files on a cold engine, zod ≈
// 8). Decision: one file per engine in the CLI's cache directory (`parsed/` beside the code cache's
// `v8/`, under the same ownership rule: cliParsedDir in src/burner/code-cache.ts):
// `inventory-<engine>.json`, 0600 in a 0700 directory, mapping each text's sha256 to what it parsed
// to. Schemas still validate every run (a kept entry skips the parse only), and a kept entry that
// does not validate falls back to a full parse, whose errors name the lines. The store holds the
// texts of the last load only (so it never grows), and is written only when they changed. Never
// kept: a text that holds anything shaped like a secret (the inventory holds secret sources, never
// secrets; a pasted token must not be copied anywhere else), or data JSON cannot carry exactly.
// A missing, unreadable or damaged store is an empty one; a store that cannot be written is skipped.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exactJson } from '../manifest/exact-json.js';

const PREFIX = 'inventory-';

const keyOf = (text: string): string => createHash('sha256').update(text).digest('hex');

export class ParseStore {
  /** The entries of this load's texts: what `save` writes. */
  private readonly now = new Map<string, unknown>();
  /** An entry was added or replaced this load (a new text, or a kept entry that did not validate). */
  private changed = false;

  private constructor(
    private readonly dir: string,
    private readonly file: string,
    private readonly kept: ReadonlyMap<string, unknown>,
  ) {}

  /** The store of `engine` (the bundle's code hash) in `dir`; undefined when either is missing. */
  static open(dir: string | undefined, engine: string | undefined): ParseStore | undefined {
    if (!dir || !engine || !/^[0-9a-z]+$/i.test(engine)) return undefined;
    const file = join(dir, `${PREFIX}${engine}.json`);
    let kept = new Map<string, unknown>();
    try {
      const raw = JSON.parse(readFileSync(file, 'utf8')) as { entries?: Record<string, unknown> };
      if (raw && typeof raw.entries === 'object' && raw.entries) kept = new Map(Object.entries(raw.entries));
    } catch {
      // Missing or damaged: start empty.
    }
    return new ParseStore(dir, file, kept);
  }

  /** What `text` parsed to at an earlier load, if kept. */
  get(text: string): { data: unknown } | undefined {
    const key = keyOf(text);
    if (!this.kept.has(key)) return undefined;
    const data = this.kept.get(key);
    this.now.set(key, data);
    return { data };
  }

  /** Records what `text` parsed to (it validated) unless the text holds one of `secrets` or JSON cannot carry it. */
  put(text: string, data: unknown, secrets: readonly string[]): void {
    const key = keyOf(text);
    if (!secrets.some((s) => s && text.includes(s)) && exactJson(data) !== undefined) {
      this.now.set(key, data);
      this.changed = true;
    } else if (this.now.delete(key)) this.changed = true;
  }

  /** Writes the texts of this load, when they differ from what was kept; drops other engines' stores. */
  save(): void {
    const same = !this.changed && this.now.size === this.kept.size && [...this.now.keys()].every((k) => this.kept.has(k));
    if (same) return;
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      const tmp = `${this.file}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify({ entries: Object.fromEntries(this.now) }), { mode: 0o600 });
      renameSync(tmp, this.file);
      for (const f of readdirSync(this.dir)) if (f.startsWith(PREFIX) && join(this.dir, f) !== this.file && !f.endsWith('.tmp')) rmSync(join(this.dir, f), { force: true });
    } catch {
      // A store that cannot be written is skipped: the run never depends on it.
    }
  }
}
