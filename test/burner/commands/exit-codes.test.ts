import { describe, expect, it } from 'vitest';
import { exitCodeOf } from '../../../src/burner/commands/exit-codes.js';
import { InjectFailedError, WriteFailedError } from '../../../src/burner/pipeline.js';
import { TargetKindError } from '../../../src/burner/safety/errors.js';
import { FlagError } from '../../../src/core/flags.js';
import { MetisError } from '../../../src/lib/errors.js';

// Issue 9: injection errors and E_DECOMPRESS/E_BMAP exited 1 while the usage text promised 6 and 4.
describe('exitCodeOf', () => {
  it.each([
    ['E_FAT_FULL', 6],
    ['E_NOT_FAT', 6],
    ['E_NO_PARTITION_TABLE', 6],
    ['E_NO_BOOT_PARTITION', 6],
    ['E_DECOMPRESS', 4],
    ['E_BMAP', 4],
    ['E_IMAGE_TRUNCATED', 4],
    ['E_NO_DIGEST', 4],
    ['E_SECRET', 3],
    ['E_SOMETHING_ELSE', 1],
  ])('%s → %i', (code, exit) => {
    expect(exitCodeOf(new MetisError(code, 'x'))).toBe(exit);
  });

  it('the pipeline’s own errors: write and inject failures 6, wrong target kind and bad flags 2', () => {
    expect(exitCodeOf(new WriteFailedError('/dev/x', true, new MetisError('E_DECOMPRESS', 'bad')))).toBe(6);
    expect(exitCodeOf(new InjectFailedError('/dev/x', new MetisError('E_FAT_FULL', 'full')))).toBe(6);
    expect(exitCodeOf(new TargetKindError('x'))).toBe(2);
    expect(exitCodeOf(new FlagError('x'))).toBe(2);
  });
});
