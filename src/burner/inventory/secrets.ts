import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';
import { MetisError } from '../../lib/errors.js';

const run = promisify(execFile);

/** Where a secret was named: errors point there and never contain the value. */
export interface SecretOrigin {
  file: string;
  path: string;
}

export type SecretResolver = (source: string, origin: SecretOrigin) => Promise<string>;

/**
 * Resolves `file:PATH` (relative to the inventory dir), `env:NAME`, `cmd:COMMAND`. A command is split
 * on spaces into argv and run without a shell, so the inventory can't smuggle shell syntax; a
 * password-manager call like `cmd:pass show lab/k3s-token` works as written. One trailing newline is dropped.
 */
export function secretResolver(inventoryDir: string, env: NodeJS.ProcessEnv = process.env): SecretResolver {
  return async (source, origin) => {
    const fail = (msg: string, cause?: unknown) =>
      new MetisError('E_SECRET', `${origin.file}: ${origin.path}: ${msg}`, { file: origin.file, path: origin.path, cause });
    const [kind, ...restParts] = source.split(':');
    const rest = restParts.join(':');
    let value: string;
    if (kind === 'env') {
      const v = env[rest];
      if (v === undefined || v === '') throw fail(`environment variable ${rest} is not set`);
      value = v;
    } else if (kind === 'file') {
      const p = isAbsolute(rest) ? rest : join(inventoryDir, rest);
      value = await readFile(p, 'utf8').catch((e: NodeJS.ErrnoException) => {
        throw fail(`cannot read secret file ${p} (${e.code ?? 'error'})`);
      });
    } else if (kind === 'cmd') {
      const [cmd, ...args] = rest.split(' ').filter(Boolean);
      if (!cmd) throw fail('cmd: needs a command');
      const r = await run(cmd, args, { timeout: 30_000, maxBuffer: 1 << 20, env }).catch((e: NodeJS.ErrnoException & { code?: unknown }) => {
        // The command's output may hold the secret: only the exit status goes into the message.
        throw fail(`secret command ${cmd} failed (${String(e.code ?? 'error')})`);
      });
      value = r.stdout;
    } else {
      throw fail('unknown secret source (use file:, env: or cmd:)');
    }
    value = value.replace(/\r?\n$/, '');
    if (!value) throw fail(`secret source ${kind}: gave an empty value`);
    return value;
  };
}
