import type { RootedFs } from '../rooted-fs.js';
import type { Exec } from '../exec.js';

export interface UnitState {
  /** systemctl's UnitFileState / is-enabled word: enabled, disabled, static, masked, not-found… */
  fileState: string;
  /** ActiveState (live only): active, inactive, failed, activating… */
  activeState: string | null;
  /**
   * Live only: systemd has a job queued or running for the unit (at boot: the start job of an
   * enabled unit still waiting on its ordering). Absent under --root.
   */
  job?: boolean;
  /**
   * Live only: when the unit's running main process started (CLOCK_MONOTONIC, µs; systemd's
   * ExecMainStartTimestampMonotonic), for "did it start after that change?". Absent when none.
   */
  mainStartedUs?: number;
}

/** systemd is bringing the unit up already: active, activating, or a job queued for it at boot. */
export function upOrComingUp(s: UnitState): boolean {
  return s.activeState === 'active' || s.activeState === 'activating' || s.activeState === 'reloading' || (s.job === true && s.activeState !== 'deactivating');
}

const UNIT_DIRS = ['/etc/systemd/system', '/run/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system'];

/** Whether a native unit file (or the template of an instance) exists for `unit` under the root. */
export async function hasUnitFile(fs: RootedFs, unit: string): Promise<boolean> {
  const template = unit.replace(/@[^.]+\./, '@.');
  for (const p of UNIT_DIRS.flatMap((d) => [`${d}/${unit}`, `${d}/${template}`])) if (await fs.exists(p)) return true;
  return false;
}

/**
 * Reads the state of many units with one process: live `systemctl show` (blocks in argument
 * order); under --root `systemctl --root=DIR is-enabled`, which stops at the first unknown unit,
 * so units without a unit file are answered "not-found" without asking.
 */
export async function readUnits(fs: RootedFs, exec: Exec, live: boolean, units: string[]): Promise<Map<string, UnitState>> {
  const out = new Map<string, UnitState>();
  if (units.length === 0) return out;
  if (live) {
    const r = await exec('systemctl', ['show', '-p', 'Id,ActiveState,UnitFileState,Job,ExecMainStartTimestampMonotonic', '--', ...units]);
    return parseShow(r.stdout, units);
  }
  const present: string[] = [];
  for (const u of units) {
    if (await hasUnitFile(fs, u)) present.push(u);
    else out.set(u, { fileState: 'not-found', activeState: null });
  }
  if (present.length) {
    const r = await exec('systemctl', [`--root=${fs.root}`, 'is-enabled', '--', ...present], { allowFailure: true });
    const lines = r.stdout.split('\n');
    present.forEach((u, i) => out.set(u, { fileState: (lines[i] ?? '').trim() || 'not-found', activeState: null }));
  }
  return out;
}

/** `systemctl show` prints one block per unit, in argument order, separated by blank lines. */
export function parseShow(stdout: string, units: string[]): Map<string, UnitState> {
  const blocks = stdout.split(/\n\s*\n/);
  return new Map(
    units.map((u, i) => {
      const kv = Object.fromEntries((blocks[i] ?? '').split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      const job = /^[1-9]\d*$/.test((kv.Job ?? '').trim());
      const main = Number(kv.ExecMainStartTimestampMonotonic);
      return [u, { fileState: kv.UnitFileState || 'not-found', activeState: kv.ActiveState ?? null, ...(job ? { job } : {}), ...(main > 0 ? { mainStartedUs: main } : {}) }];
    }),
  );
}
