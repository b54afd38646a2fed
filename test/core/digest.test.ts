import { describe, expect, it } from 'vitest';
import { normalizeDigest } from '../../src/core/digest.js';

const hex = 'ab'.repeat(32);

describe('normalizeDigest', () => {
  it.each([hex, hex.toUpperCase(), `sha256:${hex}`, `sha256:${hex.toUpperCase()}`, ` ${hex}\n`])('%s → lowercase hex', (input) => {
    expect(normalizeDigest(input)).toBe(hex);
  });
  it.each(['ab'.repeat(31), `md5:${hex}`, `${hex}0`, 'zz'.repeat(32)])('%s is refused', (input) => {
    expect(() => normalizeDigest(input, '--sha256')).toThrow(/--sha256: .* is not a sha256/);
  });
});
