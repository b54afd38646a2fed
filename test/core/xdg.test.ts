import { homedir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { cacheHome } from '../../src/core/xdg.js';

describe('cacheHome: the XDG cache base', () => {
  it.each([
    ['absolute XDG_CACHE_HOME', { XDG_CACHE_HOME: '/var/cache/u', HOME: '/home/u' }, '/var/cache/u'],
    ['unset: HOME/.cache', { HOME: '/home/u' }, '/home/u/.cache'],
    ['empty: HOME/.cache', { XDG_CACHE_HOME: '', HOME: '/home/u' }, '/home/u/.cache'],
    ['relative: ignored, HOME/.cache', { XDG_CACHE_HOME: 'cache', HOME: '/home/u' }, '/home/u/.cache'],
    ['HOME unset too: the account home', {}, `${homedir()}/.cache`],
  ])('%s', (_name, env, want) => {
    expect(cacheHome(env as NodeJS.ProcessEnv)).toBe(want);
  });
});
