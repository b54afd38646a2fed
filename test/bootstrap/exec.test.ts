import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { Redactor } from '../../src/lib/redact.js';
import { createExec } from '../../src/bootstrap/exec.js';

const exec = createExec(pino({ level: 'silent' }), new Redactor(['hunter2-secret']));

describe('exec: the one way the bootstrap starts a process', () => {
  it('a child that reads stdin gets none: it ends at once instead of waiting for its timeout', async () => {
    const started = Date.now();
    const r = await exec('cat', [], { timeoutMs: 20_000 });
    expect(r).toEqual({ exitCode: 0, stdout: '', stderr: '' });
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('input, when given, is the child’s stdin', async () => {
    expect((await exec('cat', [], { input: 'a\nb\n' })).stdout).toBe('a\nb');
  });

  it('argv is never a shell string: metacharacters are plain arguments', async () => {
    expect((await exec('echo', ['$(id)', ';', '|', '*'])).stdout).toBe('$(id) ; | *');
  });

  it('a failure names the command and its stderr, secrets redacted', async () => {
    await expect(exec('ls', ['/nonexistent-hunter2-secret'])).rejects.toThrow(/ls \/nonexistent-\[redacted\] exited 2: .*No such file/);
    expect((await exec('false', [], { allowFailure: true })).exitCode).toBe(1);
  });

  it('a command of a second or more is logged at info level (kind cmd-slow, its time, secrets redacted); a quick one only at debug', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    const x = createExec(log, new Redactor(['hunter2-secret']));
    await x('true', []);
    await x('sh', ['-c', 'sleep 1.1', 'hunter2-secret']);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ kind: 'cmd-slow', cmd: 'sh -c sleep 1.1 [redacted]', exitCode: 0 });
    expect(lines[0]!.ms).toBeGreaterThanOrEqual(1000);
  });
});
