import { spawn } from 'node:child_process';
import { constants, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { MetisError } from '../lib/errors.js';

export const LOCK_FILE = 'lock';

export interface Lock {
  release(): Promise<void>;
}

/**
 * flock(2) on our open file description, taken by util-linux flock(1) on the descriptor it
 * inherits as fd 3 (node has no flock API). The lock belongs to the description, not to the
 * short-lived flock process: it stays held while our descriptor is open and dies with us.
 * Resolves true when taken, false when another holder has it.
 */
function flockFd(fd: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const child = spawn('flock', ['--nonblock', '--exclusive', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
    let err = '';
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', (e) => reject(new MetisError('E_LOCK', `cannot run flock(1) (util-linux) to take the lock: ${e.message}`, { cause: e })));
    child.on('close', (code) => {
      if (code === 0) resolve(true);
      else if (code === 1 && !err.trim()) resolve(false);
      else reject(new MetisError('E_LOCK', `flock(1) failed (exit ${code}): ${err.trim()}`));
    });
  });
}

/**
 * Two applies never run at once (boot unit and timer may overlap): STATE/lock is flock(2)ed for
 * the whole run. The kernel drops the lock when its holder dies, so there is no stale lock to
 * judge: the pid inside is only for the message, and a pid left by a dead run (or one reused by
 * another process after a reboot) never blocks. The file is not removed on release (removing it
 * would let a waiter lock an unlinked inode while a third run locks a new file).
 */
export async function acquireLock(stateDir: string): Promise<Lock> {
  await fsp.mkdir(stateDir, { recursive: true, mode: 0o700 });
  const file = join(stateDir, LOCK_FILE);
  const h = await fsp.open(file, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  try {
    if (!(await flockFd(h.fd))) {
      const pid = Number((await h.readFile('utf8').catch(() => '')).trim());
      const who = Number.isInteger(pid) && pid > 0 ? `pid ${pid}` : 'pid not yet written';
      throw new MetisError('E_LOCKED', `another metis-bootstrap (${who}) is applying; lock ${file} is held`, { file });
    }
    await h.truncate(0);
    await h.write(`${process.pid}\n`, 0);
    await h.chmod(0o600);
  } catch (e) {
    await h.close(); // drops the lock, if we took it
    throw e;
  }
  return {
    release: async () => {
      await h.truncate(0).catch(() => undefined);
      await h.close();
    },
  };
}
