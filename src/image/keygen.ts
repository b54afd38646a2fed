import { writeFile } from 'node:fs/promises';
import { MetisError } from '../lib/errors.js';
import { generateKeyPair } from '../core/signature/keys.js';

/** PREFIX.key (0600, created exclusively: an existing key is never overwritten) and PREFIX.pub. */
export async function writeKeyPair(prefix: string): Promise<{ privatePath: string; publicPath: string }> {
  const { privatePem, publicPem } = generateKeyPair();
  const privatePath = `${prefix}.key`;
  const publicPath = `${prefix}.pub`;
  const exists = (e: NodeJS.ErrnoException, p: string) => {
    throw e.code === 'EEXIST' ? new MetisError('E_USAGE', `${p} exists; not overwriting a key`, { file: p }) : e;
  };
  await writeFile(privatePath, privatePem, { mode: 0o600, flag: 'wx' }).catch((e: NodeJS.ErrnoException) => exists(e, privatePath));
  await writeFile(publicPath, publicPem, { mode: 0o644, flag: 'wx' }).catch((e: NodeJS.ErrnoException) => exists(e, publicPath));
  return { privatePath, publicPath };
}
