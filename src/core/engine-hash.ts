/**
 * The running bundle's code hash, set by its loader (src/core/code-cache.ts) before the bundle runs;
 * undefined when running from source. Caches of what the code computes (the bootstrap's parsed
 * manifest, the CLI's parsed inventory) carry it, so another bundle never reads them.
 */
export function engineHash(): string | undefined {
  return (globalThis as { __METIS_ENGINE_HASH__?: string }).__METIS_ENGINE_HASH__;
}
