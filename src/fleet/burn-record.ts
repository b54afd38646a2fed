import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * What `replace` remembers of the card it burned, for `wait`: the sha256 of metis/node.yaml as
 * written (the hash the bootstrap's report records for its first run). No secrets.
 */
export interface BurnRecord {
  node: string;
  manifestSha256: string | null;
  burnedAt: string;
  target: string;
}

export function stateDir(env: NodeJS.ProcessEnv): string {
  return join(env.XDG_STATE_HOME || join(env.HOME || homedir(), '.local/state'), 'metis', 'burns');
}

export function manifestHash(text: Buffer | string): string {
  return createHash('sha256').update(text).digest('hex');
}

export async function saveBurnRecord(env: NodeJS.ProcessEnv, r: BurnRecord): Promise<void> {
  const dir = stateDir(env);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${r.node}.json`);
  await writeFile(`${file}.tmp`, `${JSON.stringify(r, null, 2)}\n`, { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}

export async function loadBurnRecord(env: NodeJS.ProcessEnv, node: string): Promise<BurnRecord | null> {
  try {
    return JSON.parse(await readFile(join(stateDir(env), `${node}.json`), 'utf8')) as BurnRecord;
  } catch {
    return null;
  }
}
