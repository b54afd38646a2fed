import { describe, expect, it } from 'vitest';
import { closestFlag, distance, FlagError, parseFlags } from '../../src/core/flags.js';

describe('flags', () => {
  it('edit distance counts a swap of neighbours as one edit', () => {
    expect(distance('devcie', 'device')).toBe(1);
    expect(distance('colour', 'color')).toBe(1);
    expect(distance('abc', 'xyz')).toBe(3);
  });
  it.each([
    ['--devcie', 'device'],
    ['--inv', 'inventory'],
    ['--no-verfy', 'no-verify'],
    ['--frobnicate', undefined],
  ])('closest to %s is %s', (given, want) => {
    expect(closestFlag(given, ['device', 'to', 'inventory', 'no-verify', 'json'])).toBe(want);
  });
  it('parse errors become FlagErrors in plain words', () => {
    const opts = { device: { type: 'string' }, yes: { type: 'boolean' } } as const;
    expect(() => parseFlags('burn', ['--devise', 'x'], opts)).toThrow(FlagError);
    expect(() => parseFlags('burn', ['--devise', 'x'], opts)).toThrow('burn: unknown flag --devise (did you mean --device?); see metis help burn');
    expect(() => parseFlags('burn', ['--device'], opts)).toThrow('burn: --device needs a value');
    expect(() => parseFlags('burn', ['--yes=no'], opts)).toThrow('burn: --yes takes no value');
    expect(() => parseFlags('nodes', ['extra'], opts, false)).toThrow('nodes: unexpected argument extra');
  });
});
