import { describe, expect, it, vi } from 'vitest';
import { Cleanups, InterruptedError, withInterrupts } from '../../src/image/interrupt.js';

describe('Cleanups', () => {
  it('runs pending steps newest first, skips dropped ones, and goes on past a failing step', () => {
    const ran: string[] = [];
    const c = new Cleanups();
    c.add('work dir', () => ran.push('work dir'));
    const dropLoop = c.add('loop', () => ran.push('loop'));
    c.add('mount', () => {
      ran.push('mount');
      throw new Error('busy');
    });
    c.add('partial', () => ran.push('partial'));
    dropLoop();
    expect(c.runAll()).toEqual(['partial', 'work dir']);
    expect(ran).toEqual(['partial', 'mount', 'work dir']);
    expect(c.runAll()).toEqual([]);
  });
});

describe('withInterrupts', () => {
  it('a signal runs the cleanups and rejects with exit code 143; it never exits the process itself', async () => {
    const c = new Cleanups();
    const ran: string[] = [];
    c.add('work dir', () => ran.push('work dir'));
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    try {
      const p = withInterrupts(c, () => new Promise<string>((res) => setTimeout(() => res('late'), 2000)));
      setTimeout(() => process.emit('SIGTERM', 'SIGTERM'), 20);
      const err = await p.then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(InterruptedError);
      expect((err as InterruptedError).exitCode).toBe(143);
      expect((err as Error).message).toMatch(/interrupted \(SIGTERM\).*cleaned up work dir/);
      expect(ran).toEqual(['work dir']);
      expect(exit).not.toHaveBeenCalled();
      expect(process.listenerCount('SIGTERM')).toBe(0);
    } finally {
      exit.mockRestore();
    }
  });
});
