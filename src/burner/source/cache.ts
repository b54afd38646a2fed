import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { sha256File } from '../../core/hash-file.js';
import { DigestMismatchError } from '../../core/source-errors.js';

export const HEX64 = /^[0-9a-f]{64}$/;

/** --cache DIR, else METIS_CACHE_DIR, else $XDG_CACHE_HOME/metis, else ~/.cache/metis. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['METIS_CACHE_DIR']) return env['METIS_CACHE_DIR'];
  return join(env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'metis');
}

export interface RefRecord {
  ref: string;
  sha256: string;
  size: number;
  fetchedAt: string;
}

/**
 * Content-addressed store: blobs/sha256/HEX holds the image exactly as fetched (compressed or
 * not); refs/ maps a reference (URL, oci://…:tag) to the digest it last resolved to, so a cached
 * image is found offline even when the class names a tag and no digest.
 */
export class ImageCache {
  constructor(readonly dir: string) {}

  blobPath(sha256: string): string {
    return join(this.dir, 'blobs', 'sha256', sha256);
  }

  private refPath(ref: string): string {
    return join(this.dir, 'refs', `${createHash('sha256').update(ref).digest('hex')}.json`);
  }

  /** A cached blob, re-hashed now: a corrupted cache entry is dropped, never used. */
  async get(sha256: string): Promise<string | null> {
    const p = this.blobPath(sha256);
    if (!(await stat(p).catch(() => null))) return null;
    if ((await sha256File(p)) !== sha256) {
      await rm(p, { force: true });
      return null;
    }
    return p;
  }

  /** A temp file inside the cache (same filesystem, so commit is a rename). */
  async tempPath(): Promise<string> {
    await mkdir(join(this.dir, 'tmp'), { recursive: true });
    return join(this.dir, 'tmp', `${process.pid}-${randomBytes(6).toString('hex')}`);
  }

  /** Moves a fully written, already hashed temp file into the store after checking the expected digest. */
  async commit(tmp: string, actual: string, expected: string | undefined, what: string): Promise<string> {
    if (expected && actual !== expected) {
      await rm(tmp, { force: true });
      throw new DigestMismatchError(what, expected, actual);
    }
    const dest = this.blobPath(actual);
    await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    await rename(tmp, dest);
    return dest;
  }

  async recordRef(ref: string, sha256: string): Promise<void> {
    await mkdir(join(this.dir, 'refs'), { recursive: true });
    const size = (await stat(this.blobPath(sha256))).size;
    const rec: RefRecord = { ref, sha256, size, fetchedAt: new Date().toISOString() };
    await writeFile(this.refPath(ref), `${JSON.stringify(rec)}\n`);
  }

  async lookupRef(ref: string): Promise<RefRecord | null> {
    const text = await readFile(this.refPath(ref), 'utf8').catch(() => null);
    return text ? (JSON.parse(text) as RefRecord) : null;
  }

  async list(): Promise<{ sha256: string; size: number; refs: string[]; mtime: Date }[]> {
    const refs = await this.refs();
    const names = await readdir(join(this.dir, 'blobs', 'sha256')).catch(() => [] as string[]);
    const out = [];
    for (const n of names.filter((x) => HEX64.test(x)).sort()) {
      const st = await stat(this.blobPath(n));
      out.push({ sha256: n, size: st.size, mtime: st.mtime, refs: refs.filter((r) => r.sha256 === n).map((r) => r.ref) });
    }
    return out;
  }

  private async refs(): Promise<RefRecord[]> {
    const names = await readdir(join(this.dir, 'refs')).catch(() => [] as string[]);
    const out: RefRecord[] = [];
    for (const n of names) {
      const text = await readFile(join(this.dir, 'refs', n), 'utf8').catch(() => null);
      if (text) out.push(JSON.parse(text) as RefRecord);
    }
    return out;
  }

  /** Removes temp leftovers and every blob not in `keep`; returns what was removed. */
  async prune(keep: Set<string>): Promise<{ removed: string[]; freedBytes: number }> {
    await rm(join(this.dir, 'tmp'), { recursive: true, force: true });
    const removed: string[] = [];
    let freedBytes = 0;
    for (const b of await this.list()) {
      if (keep.has(b.sha256)) continue;
      await rm(this.blobPath(b.sha256), { force: true });
      removed.push(b.sha256);
      freedBytes += b.size;
    }
    const names = await readdir(join(this.dir, 'refs')).catch(() => [] as string[]);
    for (const n of names) {
      const text = await readFile(join(this.dir, 'refs', n), 'utf8').catch(() => null);
      if (text && removed.includes((JSON.parse(text) as RefRecord).sha256)) await rm(join(this.dir, 'refs', n), { force: true });
    }
    return { removed, freedBytes };
  }
}
