import { parseArgs } from 'node:util';
import { listDevices } from '../devices.js';
import { humanSize, type Io } from './io.js';

/** `metis devices`: "which one is the card?" — candidates first, system disks marked. */
export async function devicesCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseArgs({ args: argv, strict: true, options: { json: { type: 'boolean', default: false } } });
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
