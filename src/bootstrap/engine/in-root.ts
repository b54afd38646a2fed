import { MetisError } from '../../lib/errors.js';
import { manifestSecrets } from '../../manifest/load.js';
import type { Context } from '../types.js';

/** An environment value: text, or a secret of the manifest named by its path (k3s.token), looked up only when the command runs. */
export type EnvValue = string | { secret: string };

/**
 * argv that runs a command inside the managed root: as it is on '/', through `chroot ROOT` on a
 * sysroot (--root), so paths, users and binaries are the node's. chdir uses `env -C` (coreutils),
 * which works the same on both.
 */
export function inRootArgv(ctx: Pick<Context, 'root'>, argv: readonly string[], cwd?: string): string[] {
  const cd = cwd ? ['/usr/bin/env', '-C', cwd, '--'] : [];
  return ctx.root === '/' ? [...cd, ...argv] : ['chroot', ctx.root, ...cd, ...argv];
}

/** Secret paths of the manifest (k3s.token, identity…): the only names an env `{ secret: PATH }` may use. */
function secretPaths(ctx: Pick<Context, 'manifest'>): Map<string, string> {
  return new Map(manifestSecrets(ctx.manifest).map((s) => [s.path, s.value]));
}

/** The environment a command gets: secrets resolved here, never written into a plan, argv or log. */
export function resolveEnv(ctx: Pick<Context, 'manifest'>, env: Readonly<Record<string, EnvValue>> | undefined): Record<string, string> | undefined {
  if (!env || Object.keys(env).length === 0) return undefined;
  const secrets = secretPaths(ctx);
  return Object.fromEntries(
    Object.entries(env).map(([k, v]) => {
      if (typeof v === 'string') return [k, v];
      const value = secrets.get(v.secret);
      if (value === undefined) throw new MetisError('E_ENV_SECRET', `env ${k}: "${v.secret}" is not a secret of the manifest (secrets: ${[...secrets.keys()].join(', ') || 'none'})`);
      return [k, value];
    }),
  );
}
