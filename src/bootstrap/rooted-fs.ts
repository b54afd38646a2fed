import { constants, promises as fsp } from 'node:fs';
import { dirname, join, posix, basename } from 'node:path';
import { randomBytes } from 'node:crypto';
import { MetisError } from '../lib/errors.js';

export interface FileStat {
  mode: number; // permission bits only (0o7777)
  uid: number;
  gid: number;
  size: number;
  mtimeMs: number;
  isFile: boolean;
  isDirectory: boolean;
  isSymlink: boolean;
}

export interface WriteOptions {
  mode?: number;
  uid?: number;
  gid?: number;
  /** Runs against the finished temp file (absolute host path) before it replaces the target; throw to refuse. */
  validate?: (tmpPath: string) => Promise<void>;
}

/**
 * Every path a module touches goes through here, so a run against `--root DIR` touches only DIR
 * and tests need no patching. Paths given are absolute paths on the managed system.
 */
export class RootedFs {
  /** Files written during this run (absolute managed paths), for the report and benchmarks. */
  readonly written: string[] = [];

  constructor(readonly root: string) {}

  abs(p: string): string {
    if (!p.startsWith('/')) throw new MetisError('E_PATH', `not an absolute path: ${p}`);
    const norm = posix.normalize(p);
    return this.root === '/' ? norm : join(this.root, norm);
  }

  async read(p: string): Promise<Buffer | null> {
    try {
      return await fsp.readFile(this.abs(p));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  async readText(p: string): Promise<string | null> {
    const b = await this.read(p);
    return b === null ? null : b.toString('utf8');
  }

  async stat(p: string): Promise<FileStat | null> {
    try {
      const s = await fsp.lstat(this.abs(p));
      return {
        mode: s.mode & 0o7777,
        uid: s.uid,
        gid: s.gid,
        size: s.size,
        mtimeMs: s.mtimeMs,
        isFile: s.isFile(),
        isDirectory: s.isDirectory(),
        isSymlink: s.isSymbolicLink(),
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
      throw e;
    }
  }

  async exists(p: string): Promise<boolean> {
    return (await this.stat(p)) !== null;
  }

  async readdir(p: string): Promise<string[]> {
    try {
      return (await fsp.readdir(this.abs(p))).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  async mkdir(p: string, mode = 0o755): Promise<void> {
    const target = this.abs(p);
    const existed = await fsp.stat(target).then(() => true, () => false);
    await fsp.mkdir(target, { recursive: true, mode });
    if (!existed) await fsp.chmod(target, mode);
  }

  async chmod(p: string, mode: number): Promise<void> {
    await fsp.chmod(this.abs(p), mode);
  }

  async chown(p: string, uid: number, gid: number): Promise<void> {
    await fsp.lchown(this.abs(p), uid, gid);
  }

  async remove(p: string): Promise<void> {
    await fsp.rm(this.abs(p), { force: true, recursive: true });
  }

  /** Atomic rename within the managed root (content, mode and owner kept); a missing source is a no-op. */
  async rename(from: string, to: string): Promise<void> {
    try {
      await fsp.rename(this.abs(from), this.abs(to));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    const dh = await fsp.open(dirname(this.abs(to)), constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }

  /**
   * The one write path for managed files: write a temp file beside the target, fsync it, set
   * mode/owner, validate it, rename over the target, fsync the directory. A reader never sees a
   * half-written file, and a failed validation leaves the target untouched.
   */
  async write(p: string, content: string | Buffer, opts: WriteOptions = {}): Promise<void> {
    const target = this.abs(p);
    const dir = dirname(target);
    await fsp.mkdir(dir, { recursive: true });
    const tmp = join(dir, `.${basename(target)}.metis-${randomBytes(4).toString('hex')}`);
    const handle = await fsp.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, opts.mode ?? 0o644);
    try {
      await handle.writeFile(content);
      await handle.chmod(opts.mode ?? 0o644);
      if (opts.uid !== undefined || opts.gid !== undefined) await handle.chown(opts.uid ?? 0, opts.gid ?? 0);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      if (opts.validate) await opts.validate(tmp);
      await fsp.rename(tmp, target);
    } catch (e) {
      await fsp.rm(tmp, { force: true });
      throw e;
    }
    const dh = await fsp.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
    this.written.push(p);
  }

  /** uid/gid of a user/group as the managed system names them (its own /etc/passwd, /etc/group). */
  async lookupIds(user?: string, group?: string): Promise<{ uid?: number; gid?: number }> {
    const find = async (file: string, name: string | undefined, field: number): Promise<number | undefined> => {
      if (name === undefined) return undefined;
      if (/^\d+$/.test(name)) return Number(name);
      const text = (await this.readText(file)) ?? '';
      const row = text.split('\n').map((l) => l.split(':')).find((c) => c[0] === name);
      if (!row) throw new MetisError('E_NO_SUCH_USER', `${file} has no entry "${name}"`, { path: file });
      return Number(row[field]);
    };
    const uid = await find('/etc/passwd', user, 2);
    const gid = group !== undefined ? await find('/etc/group', group, 2) : user !== undefined ? await find('/etc/passwd', user, 3) : undefined;
    return { uid, gid };
  }
}
