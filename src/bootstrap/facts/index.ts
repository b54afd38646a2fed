import type { Exec } from '../exec.js';
import type { RootedFs } from '../rooted-fs.js';
import { detectBackend, type NetworkBackend } from './network.js';
import { rootDisk, type RootDisk } from './root-disk.js';
import { containerName, kernelHostname } from './system.js';
import { readUnits, type UnitState } from './systemd.js';

export type { NetworkBackend, RootDisk, UnitState };

/** Where facts come from; tests point them at a fake /proc, /sys, /run. */
export interface FactSources {
  fs: RootedFs;
  exec: Exec;
  live: boolean;
  proc?: string;
  sys?: string;
  run?: string;
}

/**
 * Every fact a module reads, typed, per area (system, disk, systemd, network), gathered lazily
 * and cached for one run: the first module that asks pays, the rest reuse. `forget` after apply
 * changed what a fact describes. Live facts describe the running machine and are asked for only
 * on a live run; file facts come from the managed root.
 */
export class Facts {
  private readonly memo = new Map<string, Promise<unknown>>();
  private readonly units = new Map<string, UnitState>();

  constructor(private readonly src: FactSources) {}

  private once<T>(key: string, gather: () => Promise<T>): Promise<T> {
    let p = this.memo.get(key) as Promise<T> | undefined;
    if (!p) {
      p = gather();
      this.memo.set(key, p);
    }
    return p;
  }

  /** system: the running kernel's hostname. */
  hostname(): Promise<string | null> {
    return this.once('system.hostname', () => kernelHostname(this.src.proc));
  }

  /** system: the container manager's name when in one (nspawn, docker), else null. */
  container(): Promise<string | null> {
    return this.once('system.container', () => containerName(this.src.run));
  }

  /** disk: the partition and disk under a mount point. */
  rootDisk(mount: string): Promise<RootDisk | null> {
    return this.once(`disk.${mount}`, () => rootDisk(mount, this.src.sys, this.src.proc));
  }

  /** network: the stack configuring the root's NICs. */
  networkBackend(): Promise<NetworkBackend> {
    return this.once('network.backend', () => detectBackend(this.src.fs));
  }

  /** systemd: reads the states of many units with one process (prepare), kept for the run. */
  async loadUnits(names: string[]): Promise<void> {
    const missing = [...new Set(names)].filter((n) => !this.units.has(n));
    for (const [u, s] of await readUnits(this.src.fs, this.src.exec, this.src.live, missing)) this.units.set(u, s);
  }

  /** systemd: one unit's state (read on demand when prepare did not cover it). */
  async unit(name: string): Promise<UnitState> {
    if (!this.units.has(name)) await this.loadUnits([name]);
    return this.units.get(name)!;
  }

  forget(fact: { hostname: true } | { rootDisk: string } | { unit: string }): void {
    if ('hostname' in fact) this.memo.delete('system.hostname');
    else if ('rootDisk' in fact) this.memo.delete(`disk.${fact.rootDisk}`);
    else this.units.delete(fact.unit);
  }
}
