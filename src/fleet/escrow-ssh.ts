import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Escrow, HOST_KEY_TYPES } from '../identity/escrow.js';

export interface PinnedSshEnv {
  env: NodeJS.ProcessEnv;
  /** The host keys the temp known_hosts holds now (`[host]:port TYPE BASE64` lines). */
  knownKeys: () => Promise<string[]>;
  cleanup: () => Promise<void>;
}

/**
 * An ssh environment that trusts ONLY the escrowed host keys for the node: a temp known_hosts built
 * from the escrow, and a temp ssh_config whose first lines (first value wins in ssh_config) pin
 * UserKnownHostsFile to it, GlobalKnownHostsFile to nothing and StrictHostKeyChecking to yes, then
 * Include the operator's own config for users, keys, ProxyJump. The identity is proven, not assumed.
 */
export async function escrowSshEnv(e: Escrow, host: string, port: number, env: NodeJS.ProcessEnv): Promise<PinnedSshEnv> {
  const pattern = hostPattern(host, port);
  return pinnedSshEnv(HOST_KEY_TYPES.filter((t) => e.hostKeys[t]).map((t) => `${pattern} ${e.hostKeys[t]!.public}`), 'yes', env);
}

/**
 * Without escrow the new card's host key is generated at its first boot: nothing can prove it. The
 * operator's known_hosts cannot either — it holds the OLD card's key, which strict checking rightly
 * refuses. So: an empty temp known_hosts with `StrictHostKeyChecking accept-new` — the first key the
 * node presents is taken (trust on first use, said as such) and pinned for the rest of this wait: a key
 * that changes between rounds is refused. The operator's known_hosts is never written.
 */
export async function firstUseSshEnv(env: NodeJS.ProcessEnv): Promise<PinnedSshEnv> {
  return pinnedSshEnv([], 'accept-new', env);
}

export const hostPattern = (host: string, port: number): string => (port === 22 ? host : `[${host}]:${port}`);

async function pinnedSshEnv(known: string[], strict: 'yes' | 'accept-new', env: NodeJS.ProcessEnv): Promise<PinnedSshEnv> {
  const dir = await mkdtemp(join(tmpdir(), 'metis-wait-'));
  const knownFile = join(dir, 'known_hosts');
  await writeFile(knownFile, known.length ? `${known.join('\n')}\n` : '', { mode: 0o600 });
  const base = env.METIS_SSH_CONFIG || join(env.HOME || homedir(), '.ssh', 'config');
  const config = [
    `UserKnownHostsFile ${knownFile}`,
    'GlobalKnownHostsFile /dev/null',
    `StrictHostKeyChecking ${strict}`,
    'CheckHostIP no',
    'UpdateHostKeys no',
    'HashKnownHosts no',
    ...(existsSync(base) ? [`Include ${base}`] : []),
    ...(env.METIS_SSH_CONFIG ? [] : existsSync('/etc/ssh/ssh_config') ? ['Include /etc/ssh/ssh_config'] : []),
    '',
  ].join('\n');
  const file = join(dir, 'ssh_config');
  await writeFile(file, config, { mode: 0o600 });
  return {
    env: { ...env, METIS_SSH_CONFIG: file },
    knownKeys: async () => (await readFile(knownFile, 'utf8').catch(() => '')).split('\n').filter((l) => l.trim() && !l.startsWith('#')),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
