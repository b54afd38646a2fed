import { promises as fsp } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import type { Logger } from 'pino';

/** The temp names RootedFs.write (and the card scrub) use: `.NAME.metis-` and 8 hex digits. */
export const TEMP_NAME = /^\..+\.metis-[0-9a-f]{8}$/;

/** Every absolute path among the tasks' rendered arguments, walked to any depth. */
function pathsIn(value: unknown, out: Set<string>, depth = 0): void {
  if (depth > 32) return;
  if (typeof value === 'string') {
    if (isAbsolute(value) && !/[\n\0]/.test(value)) out.add(value);
  } else if (Array.isArray(value)) for (const v of value) pathsIn(v, out, depth + 1);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) pathsIn(v, out, depth + 1);
}

/** The directories a run manages: those of every path its tasks name (under root), plus hostDirs as they are. */
export function managedDirs(root: string, tasks: ReadonlyArray<{ args?: unknown }>, hostDirs: string[]): string[] {
  const paths = new Set<string>();
  for (const t of tasks) pathsIn(t.args, paths);
  const dirs = new Set(hostDirs);
  for (const p of paths) {
    dirs.add(join(root, p));
    dirs.add(join(root, dirname(p)));
  }
  return [...dirs];
}

/**
 * A killed run leaves its atomic-write temps (`.NAME.metis-xxxxxxxx`, some beside secret files).
 * The next apply, holding the lock (so no other apply is writing), removes them: only regular
 * files of exactly that name, only in the directories the run manages, never recursively.
 */
export async function removeStaleTemps(dirs: string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const dir of dirs) {
    const names = await fsp.readdir(dir).catch(() => [] as string[]);
    for (const name of names.filter((n) => TEMP_NAME.test(n))) {
      const p = join(dir, name);
      const st = await fsp.lstat(p).catch(() => null);
      if (!st?.isFile()) continue;
      await fsp.rm(p, { force: true });
      removed.push(p);
    }
  }
  return removed;
}

/** The call where an apply starts (after the lock): removes and logs. */
export async function cleanStaleTemps(root: string, tasks: ReadonlyArray<{ args?: unknown }>, hostDirs: string[], log: Logger): Promise<void> {
  const removed = await removeStaleTemps(managedDirs(root, tasks, hostDirs));
  if (removed.length) log.info({ kind: 'stale-temps', removed }, `removed ${removed.length} temp file(s) left by an interrupted run`);
}
