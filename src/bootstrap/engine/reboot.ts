import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { MetisError } from '../../lib/errors.js';
import type { Context } from '../types.js';
import type { TaskOutcome } from './apply.js';

/** STATE/reboot-required.json: boot files changed since this boot started (cleared by the next boot). */
export const REBOOT_REQUIRED_FILE = 'reboot-required.json';
/** STATE/reboot.json: the reboot --reboot-if-required issued (the loop guard). */
export const REBOOT_GUARD_FILE = 'reboot.json';
export const BOOT_ID = '/proc/sys/kernel/random/boot_id';

interface Required {
  bootId: string;
  since: string;
  files: string[];
}

interface Guard {
  bootId: string;
  manifestHash: string;
  at: string;
}

async function readJson<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new MetisError('E_STATE', `cannot read ${file}`, { cause: e });
  }
}

async function writeJson(stateDir: string, name: string, value: unknown): Promise<void> {
  await fsp.mkdir(stateDir, { recursive: true, mode: 0o700 });
  const file = join(stateDir, name);
  const fh = await fsp.open(`${file}.tmp`, 'w', 0o600);
  try {
    await fh.writeFile(`${JSON.stringify(value)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(`${file}.tmp`, file);
}

/** The files apply changed that take effect only at the next boot (boot_config's rebootRequired fact). */
export function rebootFilesOf(outcomes: readonly TaskOutcome[]): string[] {
  return outcomes.flatMap((o) => {
    const v = o.facts?.rebootRequired;
    return o.status === 'changed' && Array.isArray(v) ? v : [];
  });
}

/**
 * Boot files changed and not yet booted with, across runs of this boot: this run's changes plus the
 * ones an earlier run of the same boot (same boot_id) recorded. A new boot clears the record.
 * Check mode reads only.
 */
export async function trackRebootRequired(stateDir: string, changed: string[], checkMode: boolean, bootId: string): Promise<string[]> {
  const file = join(stateDir, REBOOT_REQUIRED_FILE);
  const prev = await readJson<Required>(file);
  const still = prev && prev.bootId === bootId ? prev.files : [];
  const files = [...new Set([...still, ...changed])];
  if (checkMode) return files;
  if (prev && prev.bootId !== bootId && changed.length === 0) await fsp.rm(file, { force: true });
  if (changed.length) await writeJson(stateDir, REBOOT_REQUIRED_FILE, { bootId, since: prev?.bootId === bootId ? prev.since : new Date().toISOString(), files } satisfies Required);
  return files;
}

export type RebootDecision = { reboot: true; note: string } | { reboot: false; note: string };

/**
 * Whether --reboot-if-required reboots now. Once per manifest: a reboot already issued for this
 * manifest (STATE/reboot.json) is never repeated after the node came back still needing one (boot
 * files that change on every run would otherwise reboot it forever); a new manifest re-arms it.
 */
export async function decideReboot(o: { stateDir: string; live: boolean; checkMode: boolean; manifestHash: string; bootId: string; required: string[] }): Promise<RebootDecision> {
  if (o.required.length === 0) return { reboot: false, note: 'no reboot required' };
  if (o.checkMode) return { reboot: false, note: 'check mode: not rebooting' };
  if (!o.live) return { reboot: false, note: 'not live (--root, or systemd not running): not rebooting' };
  const guard = await readJson<Guard>(join(o.stateDir, REBOOT_GUARD_FILE));
  if (guard && guard.bootId === o.bootId) return { reboot: false, note: `a reboot was already issued at ${guard.at}` };
  if (guard && guard.manifestHash === o.manifestHash) {
    return { reboot: false, note: `loop guard: already rebooted once for this manifest (at ${guard.at}) and the boot files changed again; not rebooting (see ${REBOOT_GUARD_FILE})` };
  }
  await writeJson(o.stateDir, REBOOT_GUARD_FILE, { bootId: o.bootId, manifestHash: o.manifestHash, at: new Date().toISOString() } satisfies Guard);
  return { reboot: true, note: `rebooting for ${o.required.join(', ')}` };
}

export async function readBootId(file = BOOT_ID): Promise<string> {
  return (await fsp.readFile(file, 'utf8').catch(() => 'unknown')).trim();
}

/** The reboot itself: queued with systemd, which stops this unit as part of it. */
export async function reboot(ctx: Pick<Context, 'exec'>): Promise<void> {
  await ctx.exec('systemctl', ['reboot']);
}
