import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireLock } from '../../src/bootstrap/lock.js';

const made: string[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});
function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'metis-lock-'));
  made.push(d);
  return join(d, 'state');
}

/** Another holder: util-linux flock(1) keeping the lock while `sleep` runs; resolves once it holds it. */
async function holdWithFlock(file: string): Promise<ChildProcess> {
  const c = spawn('flock', ['--exclusive', '--no-fork', file, 'sleep', '60'], { stdio: 'ignore' });
  children.push(c);
  for (let i = 0; i < 200; i++) {
    if (existsSync(file) && spawnSync('flock', ['--nonblock', file, 'true']).status === 1) return c;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('flock(1) never took the lock');
}

describe('the bootstrap lock (flock(2), dies with its holder)', () => {
  it('of two runs started together, exactly one takes the lock (20 rounds)', async () => {
    const dir = stateDir();
    for (let round = 0; round < 20; round++) {
      const results = await Promise.allSettled([acquireLock(dir), acquireLock(dir)]);
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won, `round ${round}`).toHaveLength(1);
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(lost.reason).toMatchObject({ code: 'E_LOCKED' });
      await (won[0] as PromiseFulfilledResult<{ release(): Promise<void> }>).value.release();
    }
  });

  it('a first run delayed between taking the lock and writing its pid still blocks the second (empty lock file)', async () => {
    const dir = stateDir();
    const file = join(dir, 'lock');
    await acquireLock(dir).then((l) => l.release()); // the directory and an empty lock file
    expect(readFileSync(file, 'utf8')).toBe('');
    const holder = await holdWithFlock(file);
    await expect(acquireLock(dir)).rejects.toMatchObject({ code: 'E_LOCKED', message: expect.stringMatching(/pid not yet written/) });
    expect(existsSync(file)).toBe(true); // not removed as "stale"
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('close', r));
    // The lock died with its holder: the next run takes it at once.
    const lock = await acquireLock(dir);
    expect(readFileSync(file, 'utf8')).toBe(`${process.pid}\n`);
    await lock.release();
  });

  it('names the holder by pid', async () => {
    const dir = stateDir();
    const lock = await acquireLock(dir);
    await expect(acquireLock(dir)).rejects.toThrow(new RegExp(`another metis-bootstrap \\(pid ${process.pid}\\) is applying`));
    await lock.release();
  });

  it('a lock file left by a crash whose pid now belongs to another live process does not block', async () => {
    const dir = stateDir();
    await acquireLock(dir).then((l) => l.release());
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    children.push(other);
    writeFileSync(join(dir, 'lock'), `${other.pid}\n`);
    const lock = await acquireLock(dir);
    expect(readFileSync(join(dir, 'lock'), 'utf8')).toBe(`${process.pid}\n`);
    await lock.release();
  });

  it('a run killed while holding the lock leaves nothing that blocks the next (real SIGKILL of a holder process)', async () => {
    const dir = stateDir();
    const file = join(dir, 'lock');
    await acquireLock(dir).then((l) => l.release());
    writeFileSync(file, '12345\n');
    const holder = await holdWithFlock(file);
    await expect(acquireLock(dir)).rejects.toMatchObject({ code: 'E_LOCKED' });
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('close', r));
    await (await acquireLock(dir)).release();
  });
});
