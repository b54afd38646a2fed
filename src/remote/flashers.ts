import { type SshTarget, parseSshTarget } from '../lib/ssh.js';

export interface FlasherDef {
  ssh: string;
  cache?: string;
}

export interface Flasher {
  /** The inventory name, or the --host text itself. */
  name: string;
  target: SshTarget;
  /** The host's image cache directory when the inventory sets one. */
  cacheDir?: string;
}

/** `--host NAME` from cluster.yaml `flashers:`, else `--host [USER@]HOST[:PORT]` (ssh_config names included). */
export function resolveFlasher(arg: string, flashers: Record<string, FlasherDef> | undefined): Flasher {
  const def = flashers?.[arg];
  if (def) return { name: arg, target: parseSshTarget(def.ssh), ...(def.cache ? { cacheDir: def.cache } : {}) };
  return { name: arg, target: parseSshTarget(arg) };
}
