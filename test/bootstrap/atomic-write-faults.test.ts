import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeStaleTemps } from '../../src/bootstrap/stale-temps.js';

/**
 * The bootstrap's one write path (RootedFs.write: temp, fsync, rename, fsync dir), killed by strace
 * at every invocation of every syscall that changes the disk, in a real node process.
 */
const SYSCALLS = ['write', 'pwrite64', 'pwritev', 'fchmod', 'fchown', 'fsync', 'fdatasync', 'rename', 'renameat', 'renameat2'];
const strace = spawnSync('strace', ['-V']).status === 0;
let work = '';
let script = '';

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'metis-awfi-'));
  script = join(work, 'write.mjs');
  buildSync({
    stdin: {
      contents: `import { RootedFs } from './src/bootstrap/rooted-fs.ts';\nconst [root, path, content] = process.argv.slice(2);\nawait new RootedFs(root).write(path, content, { mode: 0o600 });\n`,
      resolveDir: new URL('../..', import.meta.url).pathname,
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile: script,
    logLevel: 'silent',
  });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function traced(root: string, content: string, inject?: string): { status: number | null; signal: string | null; log: string } {
  const log = join(work, 'strace.log');
  const args = ['-f', '-qq', '-o', log, '-e', `trace=${SYSCALLS.join(',')}`, ...(inject ? ['-e', `inject=${inject}`] : []), process.execPath, script, root, '/etc/target.conf', content];
  // One libuv worker: every fs call on one thread, so "the Nth invocation" is well defined.
  const r = spawnSync('strace', args, { env: { ...process.env, UV_THREADPOOL_SIZE: '1' }, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, signal: r.signal, log: existsSync(log) ? readFileSync(log, 'utf8') : '' };
}

/** The most invocations of each syscall by one thread in a clean run. */
function invocations(log: string): Map<string, number> {
  const per = new Map<string, number>();
  for (const line of log.split('\n')) {
    const m = /^(\d+)\s+(?:<\.\.\. )?(\w+)\(/.exec(line);
    if (!m || line.includes('resumed>')) continue;
    const key = `${m[1]} ${m[2]}`;
    per.set(key, (per.get(key) ?? 0) + 1);
  }
  const out = new Map<string, number>();
  for (const [key, n] of per) {
    const name = key.split(' ')[1]!;
    out.set(name, Math.max(out.get(name) ?? 0, n));
  }
  return out;
}

describe.skipIf(!strace)('atomic write killed at every disk-changing syscall (strace -e inject=…:signal=KILL)', () => {
  it.each([
    ['replace', 'old contents\n' as string | null],
    ['create', null],
  ])('%s: the target is old or new, never partial; the next run sweeps the temp', async (name, old) => {
    const next = `new contents ${'n'.repeat(5000)}\n`;
    const fresh = () => {
      const root = mkdtempSync(join(work, 'root-'));
      mkdirSync(join(root, 'etc'));
      if (old !== null) writeFileSync(join(root, 'etc/target.conf'), old);
      return root;
    };
    const clean = traced(fresh(), next);
    expect(clean.status, clean.log).toBe(0);
    const counts = invocations(clean.log);
    expect(counts.get('fsync') ?? 0).toBeGreaterThanOrEqual(2);
    let kills = 0;
    let sawOld = 0;
    let sawNew = 0;
    for (const [name, n] of counts) {
      for (let k = 1; k <= n; k++) {
        const root = fresh();
        const r = traced(root, next, `${name}:signal=KILL:when=${k}`);
        const where = `killed at ${name} #${k}`;
        expect(r.signal ?? r.status, where).not.toBe(0);
        kills++;
        const target = join(root, 'etc/target.conf');
        const now = existsSync(target) ? readFileSync(target, 'utf8') : null;
        expect(now === old || now === next, `${where}: target is ${now === null ? 'missing' : 'partial'}`).toBe(true);
        if (now === next) sawNew++;
        else sawOld++;
        const leftovers = readdirSync(join(root, 'etc')).filter((f) => f !== 'target.conf');
        for (const f of leftovers) expect(f, where).toMatch(/^\.target\.conf\.metis-[0-9a-f]{8}$/);
        await removeStaleTemps([join(root, 'etc')]);
        expect(readdirSync(join(root, 'etc')).filter((f) => f !== 'target.conf'), `${where}: swept`).toEqual([]);
        rmSync(root, { recursive: true, force: true });
      }
    }
    console.log(`atomic write (${name}): killed at ${kills} syscalls (${[...counts].map(([s, n]) => `${s}×${n}`).join(', ')}); target old ${sawOld}×, new ${sawNew}×, never partial`);
    expect(kills).toBeGreaterThanOrEqual(5);
  }, 300_000);
});
