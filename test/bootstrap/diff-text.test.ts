import { describe, expect, it } from 'vitest';
import { lineDiff } from '../../src/bootstrap/diff-text.js';

describe('lineDiff', () => {
  it.each([
    [null, 'a\nb\n', ['+a', '+b']],
    ['a\nb\n', null, ['-a', '-b']],
    ['a\nb\nc\n', 'a\nB\nc\n', [' a', '-b', '+B', ' c']],
    ['a\nc\n', 'a\nb\nc\n', [' a', '+b', ' c']],
    ['same\n', 'same\n', [' same']],
  ])('%j → %j', (before, after, want) => {
    expect(lineDiff(before, after)).toEqual(want);
  });
});
