import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/**
 * The user's cache base, as the XDG Base Directory spec defines it: `$XDG_CACHE_HOME` when it is
 * an absolute path; unset, empty or relative (the spec: "consider the path invalid and ignore
 * it"), `$HOME/.cache` (HOME unset: the account's home). Every cache of the operator side (images,
 * the class image builder's downloads, the CLI's code cache) starts here.
 */
export function cacheHome(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env['XDG_CACHE_HOME'];
  return xdg && isAbsolute(xdg) ? xdg : join(env['HOME'] || homedir(), '.cache');
}
