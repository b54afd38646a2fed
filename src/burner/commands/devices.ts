import { parseFlags } from '../../core/flags.js';
import { type Device, listDevices } from '../devices.js';
import { hostDevicesCommand } from '../../remote/devices-command.js';
import { humanSize, type Io } from '../../inventory/io.js';

export const DEVICES_USAGE = `usage: metis devices [--json] [--host H [--wait-new [--timeout SEC]] [--inventory DIR]]

Lists the disks a card could be: candidates first; disks holding this system are marked and never a target.
With --host, the disks of a flashing host over SSH (H: a cluster.yaml flashers name or [USER@]HOST[:PORT]);
--wait-new waits for a disk to appear there (the card being inserted) and proposes it.`;

/** `metis devices [--host H [--wait-new]]`: "which one is the card?" — candidates first, system disks marked. */
export async function devicesCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseFlags('devices', argv, {
    json: { type: 'boolean', default: false },
    host: { type: 'string' },
    'wait-new': { type: 'boolean', default: false },
    timeout: { type: 'string' },
    inventory: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  }, false);
  if (values.help) {
    io.out(`${DEVICES_USAGE}
`);
    return 0;
  }
  if (values.host || values['wait-new']) return hostDevicesCommand({ host: values.host, waitNew: values['wait-new'], timeout: values.timeout, inventory: values.inventory, json: values.json }, io, formatDevice);
  const devices = await listDevices();
  if (values.json) {
    io.out(`${JSON.stringify(devices)}\n`);
    return 0;
  }
  if (devices.length === 0) {
    io.out('no disks found\n');
    return 0;
  }
  for (const d of devices) io.out(`${formatDevice(d)}\n`);
  return 0;
}

export function formatDevice(d: Device): string {
  const flags = [d.system ? 'SYSTEM (never a target)' : '', d.removable ? 'removable' : '', d.readOnly ? 'read-only' : ''].filter(Boolean).join(', ');
  return `${d.path.padEnd(14)} ${humanSize(d.size).padStart(10)}  ${(d.transport || '-').padEnd(5)} ${(d.model || '-').padEnd(24)} ${d.mounts.length ? `mounted: ${d.mounts.join(' ')}` : ''}${flags ? `  [${flags}]` : ''}`.trimEnd();
}
