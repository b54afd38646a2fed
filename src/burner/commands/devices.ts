import { parseArgs } from 'node:util';
import { type Device, listDevices } from '../devices.js';
import { hostDevicesCommand } from '../../remote/devices-command.js';
import { humanSize, type Io } from './io.js';

/** `metis devices [--host H [--wait-new]]`: "which one is the card?" — candidates first, system disks marked. */
export async function devicesCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      json: { type: 'boolean', default: false },
      host: { type: 'string' },
      'wait-new': { type: 'boolean', default: false },
      timeout: { type: 'string' },
      inventory: { type: 'string' },
    },
  });
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
