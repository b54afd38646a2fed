import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Escrow, HOST_KEY_TYPES } from '../identity/escrow.js';

/**
 * An ssh environment that trusts ONLY the escrowed host keys for the node: a temp known_hosts built
 * from the escrow, and a temp ssh_config whose first lines (first value wins in ssh_config) pin
 * UserKnownHostsFile to it, GlobalKnownHostsFile to nothing and StrictHostKeyChecking to yes, then
 * Include the operator's own config for users, keys, ProxyJump. The identity is proven, not assumed.
 */
export async function escrowSshEnv(e: Escrow, host: string, port: number, env: NodeJS.ProcessEnv): Promise<{ env: NodeJS.ProcessEnv; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'metis-wait-'));
  const hostPattern = port === 22 ? host : `[${host}]:${port}`;
  const lines = HOST_KEY_TYPES.filter((t) => e.hostKeys[t]).map((t) => `${hostPattern} ${e.hostKeys[t]!.public}`);
  const known = join(dir, 'known_hosts');
  await writeFile(known, `${lines.join('\n')}\n`, { mode: 0o600 });
  const base = env.METIS_SSH_CONFIG || join(env.HOME || homedir(), '.ssh', 'config');
  const config = [
    `UserKnownHostsFile ${known}`,
    'GlobalKnownHostsFile /dev/null',
    'StrictHostKeyChecking yes',
    'CheckHostIP no',
    'UpdateHostKeys no',
    ...(existsSync(base) ? [`Include ${base}`] : []),
    ...(env.METIS_SSH_CONFIG ? [] : existsSync('/etc/ssh/ssh_config') ? ['Include /etc/ssh/ssh_config'] : []),
    '',
  ].join('\n');
  const file = join(dir, 'ssh_config');
  await writeFile(file, config, { mode: 0o600 });
  return { env: { ...env, METIS_SSH_CONFIG: file }, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
