/**
 * The run's cache directory: systemd's CACHE_DIRECTORY (the units' `CacheDirectory=metis`), its first
 * entry when a unit names several (colon-separated). Unset for a run by hand, a chroot or a test:
 * then nothing is cached.
 */
export function cacheDirOf(env: NodeJS.ProcessEnv): string | undefined {
  return env.CACHE_DIRECTORY?.split(':')[0] || undefined;
}
