import { describe, expect, it } from 'vitest';
import { parseCliArgs } from '../../src/bootstrap/args.js';

describe('metis-bootstrap arguments', () => {
  it('--reboot-if-required is off by default and takes no value', () => {
    expect(parseCliArgs([]).rebootIfRequired).toBe(false);
    expect(parseCliArgs(['--reboot-if-required']).rebootIfRequired).toBe(true);
    expect(() => parseCliArgs(['--reboot-if-required=yes'])).toThrow(/does not take an argument|see metis-bootstrap --help/);
  });
});
