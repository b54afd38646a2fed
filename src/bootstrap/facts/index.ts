import type { Exec } from '../exec.js';
import type { RootedFs } from '../rooted-fs.js';
import { detectBackend, type NetworkBackend } from './network.js';
import { rootDisk, type RootDisk } from './root-disk.js';
import { NodeApi } from '../node-api.js';
import { containerName, iscsiSessionTargets, kernelHostname } from './system.js';
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
  private readonly units = new Map<string, Promise<UnitState>>();
  private batch: { names: string[]; read: Promise<Map<string, UnitState>> } | null = null;

  /** `apis`: connections opened before the run (the boot run's, during its wait), used and closed by it. */
  constructor(
    private readonly src: FactSources,
    private readonly apis = new Map<string, NodeApi>(),
  ) {}

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

  /** iscsi: the targets of the sessions logged in now (not kept: a login changes it). */
  iscsiSessions(): Promise<string[]> {
    return iscsiSessionTargets(this.src.sys);
  }

  /** disk: the partition and disk under a mount point. */
  rootDisk(mount: string): Promise<RootDisk | null> {
    return this.once(`disk.${mount}`, () => rootDisk(mount, this.src.sys, this.src.proc));
  }

  /** network: the stack configuring the root's NICs. */
  networkBackend(): Promise<NetworkBackend> {
    return this.once('network.backend', () => detectBackend(this.src.fs));
  }

  /**
   * systemd: reads the states of many units with one process (prepare), kept for the run. Units
   * asked for in the same turn (the modules' prepares, run side by side) share one `systemctl
   * show`; a unit already being read is waited for, not read again. A failed read is not kept.
   */
  async loadUnits(names: string[]): Promise<void> {
    for (const n of new Set(names)) if (!this.units.has(n)) this.units.set(n, this.queueUnit(n));
    await Promise.all(names.map((n) => this.units.get(n)));
  }

  private queueUnit(name: string): Promise<UnitState> {
    if (!this.batch) {
      const names: string[] = [];
      const read = Promise.resolve().then(() => {
        this.batch = null;
        return readUnits(this.src.fs, this.src.exec, this.src.live, names);
      });
      this.batch = { names, read };
    }
    this.batch.names.push(name);
    const state = this.batch.read.then((m) => m.get(name)!);
    state.catch(() => this.units.get(name) === state && this.units.delete(name));
    return state;
  }

  /** systemd: one unit's state (read on demand when prepare did not cover it). */
  async unit(name: string): Promise<UnitState> {
    await this.loadUnits([name]);
    return this.units.get(name)!;
  }

  /**
   * kube: the API as this node's own kubeconfig FILE (a path on this host) reaches it — one
   * connection per kubeconfig for the run, its read of the Node shared (node-api.ts). `close` ends them.
   */
  nodeApi(file: string, root: string): NodeApi {
    let api = this.apis.get(file);
    if (!api) {
      api = new NodeApi(file, root);
      this.apis.set(file, api);
    }
    return api;
  }

  close(): void {
    for (const api of this.apis.values()) api.close();
    this.apis.clear();
  }

  forget(fact: { hostname: true } | { rootDisk: string } | { unit: string }): void {
    if ('hostname' in fact) this.memo.delete('system.hostname');
    else if ('rootDisk' in fact) this.memo.delete(`disk.${fact.rootDisk}`);
    else this.units.delete(fact.unit);
  }
}
