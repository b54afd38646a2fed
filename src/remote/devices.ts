import { type SshTarget, formatSshTarget, sshRun } from '../lib/ssh.js';
import { type Device, LSBLK_COLUMNS, parseLsblk } from '../burner/devices.js';
import { HostError } from './errors.js';

/** The host's disks, judged by the same parser as local ones (system disk, mounts, removable). Needs only lsblk there. */
export async function listHostDevices(target: SshTarget, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<Device[]> {
  const r = await sshRun(target, ['lsblk', '-J', '-b', '-o', LSBLK_COLUMNS], { env, timeoutMs: 60_000, signal });
  if (r.exitCode !== 0) throw new HostError('E_HOST_PROTOCOL', formatSshTarget(target), `lsblk failed there (exit ${r.exitCode}): ${r.stderr.trim()} (install util-linux)`);
  return parseLsblk(r.stdout);
}

/** A disk is a candidate unless it holds the host's system; built-in SD slots (mmcblk, removable=0) are candidates. */
export const isCandidate = (d: Device) => !d.system && d.size > 0;

/**
 * "Insert the card now": polls the host's disks until one appears that was not there (or had no
 * medium, size 0) at the start. Bounded by `timeoutMs`; the poll is one lsblk per interval.
 */
export async function waitNewDevice(
  target: SshTarget,
  opts: { env: NodeJS.ProcessEnv; timeoutMs: number; intervalMs?: number; signal?: AbortSignal; onWaiting?: (known: Device[]) => void },
): Promise<Device | null> {
  const key = (d: Device) => `${d.path}:${d.size}`;
  const first = await listHostDevices(target, opts.env, opts.signal);
  const known = new Set(first.filter(isCandidate).map(key));
  opts.onWaiting?.(first);
  const deadline = Date.now() + opts.timeoutMs;
  while (Date.now() < deadline && !opts.signal?.aborted) {
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 1000));
    const now = await listHostDevices(target, opts.env, opts.signal).catch((e: unknown) => {
      if (opts.signal?.aborted) return [] as Device[];
      throw e;
    });
    const fresh = now.filter((d) => isCandidate(d) && !known.has(key(d)));
    if (fresh.length) return fresh[0]!;
    // A disk that went away and comes back (the same card re-inserted) counts as new again.
    for (const k of [...known]) if (!now.some((d) => key(d) === k)) known.delete(k);
  }
  return null;
}
