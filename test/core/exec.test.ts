import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { exec, execSync, spawnStream } from '../../src/core/exec.js';

const collect = async (r: NodeJS.ReadableStream): Promise<string> => {
  let s = '';
  for await (const b of r as AsyncIterable<Buffer>) s += b.toString();
  return s;
};

describe('execSync (node spawnSync, the shape exec returns)', () => {
  it('exit code, output without its final newline, input, env added to the inherited one', () => {
    const r = execSync('sh', ['-c', 'read x; echo "$x $METIS_T"; echo err >&2; exit 3'], { input: 'in\n', env: { METIS_T: 'set' } });
    expect(r).toEqual({ exitCode: 3, signal: undefined, timedOut: false, spawnError: undefined, stdout: 'in set', stderr: 'err' });
    expect(execSync('sh', ['-c', 'echo "$HOME"'], { fullEnv: { PATH: process.env.PATH } }).stdout).toBe('');
  });

  it('a missing program is exit 127 with its errno; a timeout kills with SIGTERM', () => {
    const r = execSync('metis-no-such-program', []);
    expect(r.exitCode).toBe(127);
    expect(r.spawnError).toBe('ENOENT');
    const t = execSync('sleep', ['5'], { timeout: 100 });
    expect(t).toMatchObject({ exitCode: 128, signal: 'SIGTERM', timedOut: true, spawnError: undefined });
  });

  it('agrees with exec (execa) on the same runs', async () => {
    for (const args of [['-c', 'printf "a\\n\\n"; exit 0'], ['-c', 'echo x >&2; exit 7']]) {
      expect(execSync('sh', args)).toEqual(await exec('sh', args));
    }
  });
});

describe('spawnStream (node spawn)', () => {
  it('streams stdout, feeds input to stdin, resolves on exit 0', async () => {
    const input = new PassThrough();
    const p = spawnStream('tr', ['a-z', 'A-Z'], input);
    input.end('metis\n');
    expect(await collect(p.stdout)).toBe('METIS\n');
    await expect(p.done).resolves.toBeUndefined();
  });

  it('rejects with the exit code, or the signal of a kill, or the errno of a failed start', async () => {
    const f = spawnStream('sh', ['-c', 'echo bad >&2; exit 2']);
    expect(await collect(f.stderr)).toBe('bad\n');
    await expect(f.done).rejects.toMatchObject({ exitCode: 2, signal: undefined });
    const k = spawnStream('sleep', ['5']);
    k.kill();
    await expect(k.done).rejects.toMatchObject({ signal: 'SIGTERM' });
    await expect(spawnStream('metis-no-such-program', []).done).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
