import { constants, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { MetisError } from '../lib/errors.js';

export const LOCK_FILE = 'lock';

export interface Lock {
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Two applies never run at once (boot unit and timer may overlap): STATE/lock is created with
 * O_EXCL and holds the owner's pid; a lock whose pid is dead is stale and taken over once.
 */
export async function acquireLock(stateDir: string): Promise<Lock> {
  await fsp.mkdir(stateDir, { recursive: true, mode: 0o700 });
  const file = join(stateDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const h = await fsp.open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      await h.writeFile(`${process.pid}\n`);
      await h.close();
      return { release: () => fsp.rm(file, { force: true }) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number((await fsp.readFile(file, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
        throw new MetisError('E_LOCKED', `another metis-bootstrap (pid ${pid}) is applying; lock ${file}`, { file });
      }
      await fsp.rm(file, { force: true });
    }
  }
  throw new MetisError('E_LOCKED', `cannot take lock ${file}`, { file });
}
