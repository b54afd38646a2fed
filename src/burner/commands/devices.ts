import { parseFlags } from '../../core/flags.js';
import { listDevices } from '../devices.js';
import { humanSize, type Io } from './io.js';

export const DEVICES_USAGE = 'usage: metis devices [--json]\n\nLists the disks a card could be: candidates first; disks holding this system are marked and never a target.';

/** `metis devices`: "which one is the card?" — candidates first, system disks marked. */
export async function devicesCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseFlags('devices', argv, { json: { type: 'boolean', default: false } }, false);
  const devices = await listDevices();
  if (values.json) {
    io.out(`${JSON.stringify(devices)}\n`);
    return 0;
  }
  if (devices.length === 0) {
    io.out('no disks found\n');
    return 0;
  }
  for (const d of devices) {
    const flags = [d.system ? 'SYSTEM (never a target)' : '', d.removable ? 'removable' : '', d.readOnly ? 'read-only' : ''].filter(Boolean).join(', ');
    io.out(`${d.path.padEnd(14)} ${humanSize(d.size).padStart(10)}  ${(d.transport || '-').padEnd(5)} ${(d.model || '-').padEnd(24)} ${d.mounts.length ? `mounted: ${d.mounts.join(' ')}` : ''}${flags ? `  [${flags}]` : ''}`.trimEnd() + '\n');
  }
  return 0;
}
