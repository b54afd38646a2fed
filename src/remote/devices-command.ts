import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Device } from '../burner/devices.js';
import { loadInventory } from '../inventory/load.js';
import { UsageError } from '../burner/commands/exit-codes.js';
import { inventoryDir, type Io } from '../inventory/io.js';
import { formatSshTarget, withSshSession } from '../lib/ssh.js';
import { listHostDevices, waitNewDevice } from './devices.js';
import { type FlasherDef, resolveFlasher } from './flashers.js';

/** `flashers:` of ./inventory (or --inventory) when there is one, so `--host NAME` works by name. */
export async function inventoryFlashers(flag: string | undefined): Promise<Record<string, FlasherDef> | undefined> {
  const dir = inventoryDir(flag);
  if (!flag && !existsSync(join(dir, 'cluster.yaml'))) return undefined;
  const inv = await loadInventory(dir);
  return (inv.cluster.def as { flashers?: Record<string, FlasherDef> }).flashers;
}

export async function hostDevicesCommand(
  o: { host?: string; waitNew: boolean; timeout?: string; inventory?: string; json: boolean },
  io: Io,
  format: (d: Device) => string,
): Promise<number> {
  if (!o.host) throw new UsageError('--wait-new needs --host HOST (the flashing host to watch)');
  const timeoutSec = o.timeout === undefined ? 600 : Number(o.timeout);
  if (!Number.isFinite(timeoutSec) || timeoutSec <= 0) throw new UsageError('--timeout must be a positive number of seconds');
  const flasher = resolveFlasher(o.host, await inventoryFlashers(o.inventory));
  const name = flasher.name === formatSshTarget(flasher.target) ? flasher.name : `${flasher.name} (${formatSshTarget(flasher.target)})`;
  // One SSH connection for the listing, or for the whole wait (one lsblk a second over it).
  return withSshSession(flasher.target, { env: io.env, signal: io.signal }, async (target) => {
    if (!o.waitNew) {
      const devices = await listHostDevices(target, io.env, io.signal);
      if (o.json) io.out(`${JSON.stringify(devices)}\n`);
      else {
        io.out(`disks on ${name}:\n`);
        for (const d of devices) io.out(`${format(d)}\n`);
      }
      return 0;
    }
    const found = await waitNewDevice(target, {
      env: io.env,
      timeoutMs: timeoutSec * 1000,
      signal: io.signal,
      onWaiting: () => (o.json ? io.out(`${JSON.stringify({ event: 'waiting', host: flasher.name, timeoutSec })}\n`) : io.err(`insert the card into ${name} now (waiting up to ${timeoutSec} s)…\n`)),
    });
    if (!found) {
      if (o.json) io.out(`${JSON.stringify({ event: 'timeout', host: flasher.name })}\n`);
      else io.err(`no new disk appeared on ${name} within ${timeoutSec} s\n`);
      return 1;
    }
    if (o.json) io.out(`${JSON.stringify({ event: 'new-device', host: flasher.name, device: found })}\n`);
    else {
      io.out(`new disk on ${name}:\n${format(found)}\n`);
      io.out(`burn it with: metis burn NODE --host ${flasher.name} --device ${found.path}\n`);
    }
    return 0;
  });
}
