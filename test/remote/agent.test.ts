import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { metis } from '../burner/commands/run.js';
import { tempDirs } from '../burner/fixtures.js';

const dir = tempDirs('metis-agent-flags-');
const SHA = 'a'.repeat(64);

describe('burn-agent --follow/--follow-size: refused before anything is opened (exit 2, nothing written)', () => {
  // CACHE stands for the --cache dir of each run.
  it.each<[string, string[], RegExp]>([
    ['--follow without --follow-size', ['--follow', 'CACHE/tmp/1-0123456789ab'], /go together/],
    ['--follow-size without --follow', ['--follow-size', '100'], /go together/],
    ['a relative path', ['--follow', 'tmp/1-0123456789ab', '--follow-size', '100'], /not a temp file/],
    ['a path outside the cache', ['--follow', '/etc/shadow', '--follow-size', '100'], /not a temp file/],
    ['a blob of the cache, not a temp file', ['--follow', `CACHE/blobs/sha256/${SHA}`, '--follow-size', '100'], /not a temp file/],
    ['a temp dir reached through ..', ['--follow', 'CACHE/tmp/../tmp/1-0123456789ab', '--follow-size', '100'], /not a temp file/],
    ['a trailing slash', ['--follow', 'CACHE/tmp/1-0123456789ab/', '--follow-size', '100'], /not a temp file/],
    ['a name tempPath never makes', ['--follow', 'CACHE/tmp/evil', '--follow-size', '100'], /not a temp file/],
    ['a file nested below tmp', ['--follow', 'CACHE/tmp/x/1-0123456789ab', '--follow-size', '100'], /not a temp file/],
    ['size 0', ['--follow', 'CACHE/tmp/1-0123456789ab', '--follow-size', '0'], /--follow-size 0: not a positive/],
    ['a negative size', ['--follow', 'CACHE/tmp/1-0123456789ab', '--follow-size=-5'], /not a positive/],
    ['a fraction', ['--follow', 'CACHE/tmp/1-0123456789ab', '--follow-size', '1.5'], /not a positive/],
    ['an exponent', ['--follow', 'CACHE/tmp/1-0123456789ab', '--follow-size', '1e6'], /not a positive/],
    ['hex', ['--follow', 'CACHE/tmp/1-0123456789ab', '--follow-size', '0x10'], /not a positive/],
    ['a leading space', ['--follow', 'CACHE/tmp/1-0123456789ab', '--follow-size', ' 12'], /not a positive/],
    ['beyond a safe integer', ['--follow', 'CACHE/tmp/1-0123456789ab', '--follow-size', '9007199254740993'], /not a positive/],
  ])('%s', async (_name, flags, message) => {
    const cache = dir();
    const target = join(dir(), 'card.img');
    writeFileSync(target, 'old card');
    const r = await metis(['burn-agent', 'burn', '--cache', cache, '--sha256', SHA, '--target', target, '--kind', 'file', ...flags.map((f) => f.replace('CACHE', cache))]);
    expect(r.code, r.err).toBe(2);
    expect(r.err).toMatch(message);
    // No event (not even `ready`), the card untouched, nothing made in the cache.
    expect(r.out).toBe('');
    expect(readFileSync(target, 'utf8')).toBe('old card');
    expect(readdirSync(cache)).toEqual([]);
  });

  it('--follow belongs to burn: a receive given it is refused', async () => {
    const cache = dir();
    const r = await metis(['burn-agent', 'receive', '--cache', cache, '--sha256', SHA, '--follow', join(cache, 'tmp/1-0123456789ab'), '--follow-size', '100']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--follow belongs to burn/);
    expect(r.out).toBe('');
    expect(readdirSync(cache)).toEqual([]);
  });
});
