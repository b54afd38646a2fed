import { listDevices } from '../devices.js';
import type { TargetInfo } from '../safety/check-target.js';
import { NotConfirmedError } from './exit-codes.js';
import { humanSize, type Io } from '../../inventory/io.js';

/** Without --yes the operator types "yes" after seeing node, device path, model and size; no terminal → refuse. */
export async function confirmBurn(io: Io, node: string, target: TargetInfo): Promise<void> {
  let what: string;
  if (target.isBlockDevice) {
    const dev = (await listDevices().catch(() => [])).find((d) => d.path === target.path);
    what = `device ${target.path} (${dev?.model || 'unknown model'}, ${humanSize(target.size)}${dev?.transport ? `, ${dev.transport}` : ''})`;
  } else {
    what = `image file ${target.path}${target.size ? ` (${humanSize(target.size)}, overwritten)` : ' (new)'}`;
  }
  const question = `Burn node ${node} to ${what}? Everything on it is lost. Type "yes" to continue: `;
  const answer = await io.ask(question);
  if (answer === null) throw new NotConfirmedError(`not burning ${node} to ${what}: no terminal to confirm on; pass --yes`);
  if (answer.trim().toLowerCase() !== 'yes') throw new NotConfirmedError(`not burning ${node}: not confirmed`);
}
