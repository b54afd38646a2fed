import { describe, expect, it } from 'vitest';
import { Cleanups } from '../../src/image/interrupt.js';

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
