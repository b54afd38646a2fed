import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
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

  it('a released claim removes its lock file (the lock directory does not keep one per target ever burned)', async () => {
    const d = dir();
    const c = await claimTarget(join(d, 'card.img'), { METIS_LOCK_DIR: d });
    expect(readFileSync(c.lockFile, 'utf8')).toMatch(new RegExp(`^${process.pid} file:`));
    await c.release();
    expect(existsSync(c.lockFile)).toBe(false);
    await c.release();
  });

  // flock(1) wrapped by a script that first puts a new file at the lock's path, as happens when the
  // holder releases (removes the file) and a newer claimant creates it again between this claim's
  // open and its flock: the lock then taken is on a file no longer at the path.
  const replacingFlock = (d: string, lockDir: string, times: number): string => {
    const bin = join(d, 'bin');
    const real = execFileSync('sh', ['-c', 'command -v flock'], { encoding: 'utf8' }).trim();
    mkdirSync(bin);
    const script = [
      '#!/bin/sh',
      `count=${join(d, 'count')}`,
      'n=$(cat "$count" 2>/dev/null || echo 0)',
      `if [ "$n" -lt ${times} ]; then echo $((n + 1)) > "$count"; for f in ${lockDir}/metis-burn-*.lock; do : > "$f.new"; mv -f "$f.new" "$f"; done; fi`,
      `exec ${real} "$@"`,
    ].join('\n');
    writeFileSync(join(bin, 'flock'), `${script}\n`);
    chmodSync(join(bin, 'flock'), 0o755);
    return `${bin}:${process.env.PATH}`;
  };

  it('a lock taken on a file that was replaced meanwhile is let go and taken again on the file at the path', async () => {
    const d = dir();
    const locks = join(d, 'locks');
    mkdirSync(locks);
    const target = join(d, 'card.img');
    const c = await claimTarget(target, { METIS_LOCK_DIR: locks, PATH: replacingFlock(d, locks, 1) });
    held.push(c.release);
    expect(readFileSync(join(d, 'count'), 'utf8').trim()).toBe('1');
    // The claim holds the file now at the path: it carries this pid, and another claimant is refused.
    expect(readFileSync(c.lockFile, 'utf8')).toMatch(new RegExp(`^${process.pid} `));
    const e = await claimTarget(target, { METIS_LOCK_DIR: locks }).then(() => null, (x: unknown) => x);
    expect((e as TargetRefusedError).code).toBe('E_TARGET_BUSY');
    expect((e as Error).message).toContain(`(pid ${process.pid})`);
  });

  it('a lock file replaced at every try: refused as E_TARGET_BUSY after a bounded number of tries, nothing held', async () => {
    const d = dir();
    const locks = join(d, 'locks');
    mkdirSync(locks);
    const target = join(d, 'card.img');
    const e = await claimTarget(target, { METIS_LOCK_DIR: locks, PATH: replacingFlock(d, locks, 1000) }).then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(TargetRefusedError);
    expect((e as TargetRefusedError).code).toBe('E_TARGET_BUSY');
    expect((e as Error).message).toMatch(/was replaced 5 times while it was being claimed/);
    expect(readFileSync(join(d, 'count'), 'utf8').trim()).toBe('5');
    const free = await claimTarget(target, { METIS_LOCK_DIR: locks });
    held.push(free.release);
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
