import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, open, realpath, stat, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { devno } from './block-sysfs.js';
import { TargetRefusedError } from './errors.js';

/** A target held by this process until `release` (or until the process dies: the kernel drops the lock). */
export interface TargetClaim {
  lockFile: string;
  release(): Promise<void>;
}

/** Where claims live: /run/lock (tmpfs, world-writable) when usable, else the temp dir. METIS_LOCK_DIR overrides. */
async function lockDir(env: NodeJS.ProcessEnv): Promise<string> {
  if (env['METIS_LOCK_DIR']) return env['METIS_LOCK_DIR'];
  const run = await stat('/run/lock').catch(() => null);
  return run?.isDirectory() ? '/run/lock' : tmpdir();
}

/** One key per thing written: a block device by its device number (any path to it), a file by its real path. */
async function targetKey(target: string): Promise<string> {
  const st = await stat(target).catch(() => null);
  if (st?.isBlockDevice()) return `dev:${devno(st.rdev)}`;
  const real = st ? await realpath(target) : join(await realpath(dirname(resolve(target))).catch(() => dirname(resolve(target))), basename(target));
  return `file:${real}`;
}

async function openLock(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r+');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  try {
    const fh = await open(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o666);
    // Any user may burn their own card later: the lock file must stay openable for them.
    await chmod(path, 0o666).catch(() => {});
    return fh;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return open(path, 'r+');
    throw e;
  }
}

/**
 * flock(1) on the descriptor `fd` as its fd 3: its exit code (0 taken, 1 held elsewhere), or the
 * errno of a failed start. Spawned with node's child_process, not through core/exec (execa): execa
 * costs a burn ~10 ms of CPU for this one call before its first write.
 */
function flockFd(fd: number, env: NodeJS.ProcessEnv): Promise<{ exitCode: number | null; spawnError?: string }> {
  return new Promise((resolve) => {
    // Found on the caller's PATH (flock needs nothing else from the environment).
    const child = spawn('flock', ['--nonblock', '--exclusive', '3'], { stdio: ['ignore', 'ignore', 'ignore', fd], env: { PATH: env.PATH ?? process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' } });
    child.once('error', (e: NodeJS.ErrnoException) => resolve({ exitCode: null, spawnError: e.code ?? e.message }));
    child.once('exit', (exitCode) => resolve({ exitCode }));
  });
}

/** How often a claim is tried again when the lock file it locked was removed meanwhile (see claimTarget). */
const ATTEMPTS = 5;

/**
 * One exclusive claim per target, held from the target check to the end of injection. It is a
 * flock(2) on a lock file, taken by util-linux flock(1) on a descriptor this process passes it:
 * the lock belongs to the open file description, which stays open here after flock exits, and
 * the kernel releases it when this process closes it or dies (no stale claims after a crash).
 * Release removes the lock file while still holding it (or /run/lock would keep one file per image
 * file ever burned). A claimant that opened the file just before that removal locks a file no
 * longer at the path: it sees the path now names another file (or none), lets go, and tries again.
 */
export async function claimTarget(target: string, env: NodeJS.ProcessEnv = process.env): Promise<TargetClaim> {
  const key = await targetKey(target);
  const lockFile = join(await lockDir(env), `metis-burn-${createHash('sha256').update(key).digest('hex').slice(0, 20)}.lock`);
  for (let attempt = 1; ; attempt++) {
    const fh = await openLock(lockFile);
    try {
      const r = await flockFd(fh.fd, env);
      if (r.spawnError) throw new TargetRefusedError('E_TARGET_BUSY', target, `cannot take the burn claim: flock(1) is missing (util-linux): ${r.spawnError}`);
      if (r.exitCode !== 0) {
        const buf = Buffer.alloc(64);
        const { bytesRead } = await fh.read(buf, 0, 64, 0);
        const pid = /^(\d+)/.exec(buf.subarray(0, bytesRead).toString('utf8'))?.[1];
        throw new TargetRefusedError('E_TARGET_BUSY', target, `in use by another metis burn${pid ? ` (pid ${pid})` : ''}`);
      }
      if (!(await isAt(fh, lockFile))) {
        if (attempt >= ATTEMPTS) throw new TargetRefusedError('E_TARGET_BUSY', target, `its lock file ${lockFile} was replaced ${ATTEMPTS} times while it was being claimed`);
        await fh.close();
        continue;
      }
      await fh.truncate(0);
      await fh.write(`${process.pid} ${key}\n`, 0);
    } catch (e) {
      await fh.close();
      throw e;
    }
    let released = false;
    return {
      lockFile,
      release: async () => {
        if (released) return;
        released = true;
        // Removed while still locked, so no one can take this file's lock and keep it. In a sticky
        // /run/lock another user's file cannot be removed: it stays, as it did before.
        await unlink(lockFile).catch(() => {});
        await fh.close();
      },
    };
  }
}

/** The open lock file is still the one at `path` (not removed, nor replaced by a newer one). */
async function isAt(fh: FileHandle, path: string): Promise<boolean> {
  const [open, now] = await Promise.all([fh.stat(), stat(path).catch(() => null)]);
  return now !== null && open.dev === now.dev && open.ino === now.ino;
}
