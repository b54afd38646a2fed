import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { sha256File } from '../../core/hash-file.js';
import { cacheHome } from '../../core/xdg.js';
import { DigestMismatchError } from '../../core/source-errors.js';

export const HEX64 = /^[0-9a-f]{64}$/;
/** The file names tempPath() makes: `PID-RANDOM`. */
const TEMP_NAME = /^[0-9]+-[0-9a-f]{12}$/;

/** --cache DIR, else METIS_CACHE_DIR, else $XDG_CACHE_HOME/metis (absolute only), else ~/.cache/metis. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['METIS_CACHE_DIR']) return env['METIS_CACHE_DIR'];
  return join(cacheHome(env), 'metis');
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

  /** A cached blob's path without re-hashing it: for a burn that hashes the bytes as it writes them. */
  async has(sha256: string): Promise<string | null> {
    const p = this.blobPath(sha256);
    return (await stat(p).catch(() => null))?.isFile() ? p : null;
  }

  /** Drops a blob that failed its check (and what was kept beside it). */
  async drop(sha256: string): Promise<void> {
    await rm(this.blobPath(sha256), { force: true });
    await rm(join(this.dir, 'side', sha256), { recursive: true, force: true });
  }

  /** Small files kept beside a blob (its block map, signatures): side/HEX/NAME. */
  async putSide(sha256: string, name: string, data: Buffer): Promise<string> {
    const dir = join(this.dir, 'side', sha256);
    await mkdir(dir, { recursive: true });
    const dest = join(dir, name);
    const tmp = `${dest}.${process.pid}.tmp`;
    await writeFile(tmp, data);
    await rename(tmp, dest);
    return dest;
  }

  async readSide(sha256: string, name: string): Promise<Buffer | null> {
    return readFile(join(this.dir, 'side', sha256, name)).catch(() => null);
  }

  sidePath(sha256: string, name: string): string {
    return join(this.dir, 'side', sha256, name);
  }

  /** A temp file inside the cache (same filesystem, so commit is a rename). */
  async tempPath(): Promise<string> {
    await mkdir(join(this.dir, 'tmp'), { recursive: true });
    return join(this.dir, 'tmp', `${process.pid}-${randomBytes(6).toString('hex')}`);
  }

  /** Whether `path` is exactly a name tempPath() could have returned (no `..`, no trailing `/`, nothing nested). */
  isTempPath(path: string): boolean {
    return TEMP_NAME.test(basename(path)) && path === join(this.dir, 'tmp', basename(path));
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
      await this.drop(b.sha256);
      removed.push(b.sha256);
      freedBytes += b.size;
    }
    // Side files of blobs no longer here (removed above, or a download that never completed).
    for (const n of await readdir(join(this.dir, 'side')).catch(() => [] as string[])) {
      if (!(await stat(this.blobPath(n)).catch(() => null))) await rm(join(this.dir, 'side', n), { recursive: true, force: true });
    }
    const names = await readdir(join(this.dir, 'refs')).catch(() => [] as string[]);
    for (const n of names) {
      const text = await readFile(join(this.dir, 'refs', n), 'utf8').catch(() => null);
      if (text && removed.includes((JSON.parse(text) as RefRecord).sha256)) await rm(join(this.dir, 'refs', n), { force: true });
    }
    return { removed, freedBytes };
  }
}
