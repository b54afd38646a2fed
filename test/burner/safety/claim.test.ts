import { spawn } from 'node:child_process';
import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { claimTarget } from '../../../src/burner/safety/claim.js';
import { TargetRefusedError } from '../../../src/burner/safety/errors.js';
import { tempDirs } from '../fixtures.js';

const dir = tempDirs('metis-claim-');
const held: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const r of held.splice(0)) await r();
});

describe('claimTarget', () => {
  it('a second claim on the same file (by another path) is refused naming the holder pid; release frees it', async () => {
    const d = dir();
    const env = { METIS_LOCK_DIR: d };
    const target = join(d, 'card.img');
    const first = await claimTarget(target, env);
    held.push(first.release);
    writeFileSync(target, 'x');
    symlinkSync(target, join(d, 'alias.img'));
    const e = await claimTarget(join(d, 'alias.img'), env).then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(TargetRefusedError);
    expect((e as TargetRefusedError).code).toBe('E_TARGET_BUSY');
    expect((e as TargetRefusedError).exitCode).toBe(27);
    expect((e as Error).message).toContain(`in use by another metis burn (pid ${process.pid})`);
    await first.release();
    const again = await claimTarget(target, env);
    held.push(again.release);
  });

  it('other targets are not blocked', async () => {
    const d = dir();
    const a = await claimTarget(join(d, 'a.img'), { METIS_LOCK_DIR: d });
    held.push(a.release);
    const b = await claimTarget(join(d, 'b.img'), { METIS_LOCK_DIR: d });
    held.push(b.release);
  });

  it('the claim dies with its holder: a killed process leaves no stale lock', async () => {
    const d = dir();
    const target = join(d, 'card.img');
    const lockFile = (await claimTarget(target, { METIS_LOCK_DIR: d }).then(async (c) => (await c.release(), c.lockFile)));
    // Another process takes the same lock file with flock(1) and holds it until killed (--no-fork:
    // flock becomes sleep, so the one process holding the lock is the one killed).
    const child = spawn('flock', ['--nonblock', '--no-fork', lockFile, 'sleep', '30'], { stdio: 'ignore' });
    try {
      let busy = false;
      for (let i = 0; i < 50 && !busy; i++) {
        await new Promise((r) => setTimeout(r, 50));
        busy = await claimTarget(target, { METIS_LOCK_DIR: d }).then(async (c) => (await c.release(), false), () => true);
      }
      expect(busy).toBe(true);
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    const free = await claimTarget(target, { METIS_LOCK_DIR: d });
    held.push(free.release);
  });

  it('without flock(1) on PATH nothing is claimed: refused as E_TARGET_BUSY naming util-linux', async () => {
    const d = dir();
    const e = await claimTarget(join(d, 'card.img'), { METIS_LOCK_DIR: d, PATH: d }).then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(TargetRefusedError);
    expect((e as TargetRefusedError).code).toBe('E_TARGET_BUSY');
    expect((e as Error).message).toMatch(/flock\(1\) is missing \(util-linux\): ENOENT/);
  });
});
