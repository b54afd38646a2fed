import { describe, expect, it } from 'vitest';
import { parseCliArgs } from '../../src/bootstrap/args.js';

describe('metis-bootstrap arguments', () => {
  it('--reboot-if-required is off by default and takes no value', () => {
    expect(parseCliArgs([]).rebootIfRequired).toBe(false);
    expect(parseCliArgs(['--reboot-if-required']).rebootIfRequired).toBe(true);
    expect(() => parseCliArgs(['--reboot-if-required=yes'])).toThrow(/does not take an argument|see metis-bootstrap --help/);
  });
});

describe('--boot', () => {
  it('is off by default and on as a flag', () => {
    expect(parseCliArgs([]).boot).toBe(false);
    expect(parseCliArgs(['--boot']).boot).toBe(true);
    expect(parseCliArgs(['--boot', '--check']).check).toBe(true);
  });
  it.each([
    [['--boot', '--tags', 'early'], /--boot .* cannot be combined with --tags/],
    [['--boot', '--json'], /cannot be combined with --json/],
    [['--boot', '--install-manifest', '-'], /cannot be combined with --install-manifest/],
    [['--boot=yes'], /does not take an argument|see metis-bootstrap --help/],
  ])('%j is refused: %s', (argv, err) => {
    expect(() => parseCliArgs(argv)).toThrow(err);
  });
});
