import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { exec } from '../core/exec.js';
import { MetisError } from '../lib/errors.js';
import { Redactor } from '../lib/redact.js';
import { readBounded } from '../manifest/read-bounded.js';
import { operatorKeys, unseal } from '../identity/age.js';

/** A secret is a token, a password or a key: 64 KiB is plenty, and bounds what file: and cmd: may read. */
export const MAX_SECRET_BYTES = 64 * 1024;

/** Where a secret was named: errors point there and never contain the value. */
export interface SecretOrigin {
  file: string;
  path: string;
}

export type SecretResolver = (source: string, origin: SecretOrigin) => Promise<string>;

/**
 * Resolves `file:PATH` (relative to the inventory dir), `env:NAME`, `cmd:COMMAND`. A command is split
 * on spaces into argv and run without a shell, so the inventory can't smuggle shell syntax; a
 * password-manager call like `cmd:pass show lab/k3s-token` works as written. `age:PATH` is a file
 * sealed with age, `sops:PATH#key.path` one value of a sops-encrypted file; both are opened with the
 * operator's age key (src/identity/age.ts). One trailing newline is dropped.
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
      const { data, truncated } = await readBounded(p, MAX_SECRET_BYTES).catch((e: NodeJS.ErrnoException) => {
        throw fail(`cannot read secret file ${p} (${e.code ?? 'error'})`);
      });
      if (truncated) throw fail(`secret file ${p} is larger than ${MAX_SECRET_BYTES} bytes (64 KiB): refused (a secret is a token, a password or a key)`);
      value = data.toString('utf8');
    } else if (kind === 'cmd') {
      const [cmd, ...args] = rest.split(' ').filter(Boolean);
      if (!cmd) throw fail('cmd: needs a command');
      const r = await exec(cmd, args, { timeout: 30_000, maxBuffer: MAX_SECRET_BYTES, fullEnv: env });
      if (r.spawnError) throw fail(`secret command ${cmd} failed (${r.spawnError})`);
      if (r.exitCode !== 0 || r.timedOut) {
        // Its stderr says why (locked vault, unknown entry); whatever it printed on stdout may be
        // (part of) the secret and is masked wherever it recurs in stderr.
        const why = new Redactor(r.stdout.split('\n').map((l) => l.trim())).text(r.stderr.trim().split('\n').slice(-4).join('\n  '));
        const status = r.timedOut ? 'timed out after 30 s' : r.signal ? `killed by ${r.signal}` : `exit ${r.exitCode}`;
        throw fail(`secret command ${cmd} failed (${status})${why ? `:\n  ${why}` : ''}`);
      }
      // exec already dropped the one trailing newline the common step below drops.
      value = `${r.stdout}\n`;
    } else if (kind === 'age') {
      value = await ageSecret(isAbsolute(rest) ? rest : join(inventoryDir, rest), env, fail);
    } else if (kind === 'sops') {
      value = await sopsSecret(inventoryDir, rest, env, fail);
    } else {
      throw fail('unknown secret source (use file:, env:, cmd:, age: or sops:)');
    }
    value = value.replace(/\r?\n$/, '');
    if (!value) throw fail(`secret source ${kind}: gave an empty value`);
    return value;
  };
}

type Fail = (msg: string, cause?: unknown) => MetisError;

async function ageSecret(p: string, env: NodeJS.ProcessEnv, fail: Fail): Promise<string> {
  await access(p, constants.R_OK).catch((e: NodeJS.ErrnoException) => {
    throw fail(`cannot read sealed file ${p} (${e.code ?? 'error'})`);
  });
  try {
    const { identities } = await operatorKeys(env);
    return await unseal(p, identities, env);
  } catch (e) {
    throw fail((e as Error).message, e);
  }
}

/** `PATH#a.b.0` → sops's `--extract '["a"]["b"][0]'`. */
export function sopsExtract(keyPath: string): string {
  return keyPath
    .split('.')
    .map((k) => (/^\d+$/.test(k) ? `[${k}]` : `[${JSON.stringify(k)}]`))
    .join('');
}

async function sopsSecret(inventoryDir: string, rest: string, env: NodeJS.ProcessEnv, fail: Fail): Promise<string> {
  const hash = rest.lastIndexOf('#');
  if (hash <= 0 || hash === rest.length - 1) throw fail('sops: needs PATH#key.path, e.g. sops:secrets.yaml#k3s.token');
  const file = rest.slice(0, hash);
  const keyPath = rest.slice(hash + 1);
  const p = isAbsolute(file) ? file : join(inventoryDir, file);
  // sops finds SOPS_AGE_KEY, SOPS_AGE_KEY_FILE and ~/.config/sops/age/keys.txt itself (all together, as
  // metis does); `--age-key FILE` is metis's own and reaches sops as key text in SOPS_AGE_KEY (the
  // environment, never argv), so it counts even when SOPS_AGE_KEY_FILE names another file.
  const sopsEnv = { ...env };
  if (env.METIS_AGE_KEY_FILE) {
    const { data, truncated } = await readBounded(env.METIS_AGE_KEY_FILE, MAX_SECRET_BYTES).catch((e: NodeJS.ErrnoException) => {
      throw fail(`cannot read the age key file ${env.METIS_AGE_KEY_FILE} (--age-key): ${e.code ?? 'error'}`);
    });
    if (truncated) throw fail(`the age key file ${env.METIS_AGE_KEY_FILE} (--age-key) is larger than 64 KiB: refused`);
    sopsEnv.SOPS_AGE_KEY = [env.SOPS_AGE_KEY, data.toString('utf8')].filter(Boolean).join('\n');
  }
  const bin = env.METIS_SOPS || 'sops';
  const r = await exec(bin, ['--decrypt', '--extract', sopsExtract(keyPath), p], { timeout: 30_000, maxBuffer: MAX_SECRET_BYTES, fullEnv: sopsEnv });
  if (r.spawnError === 'ENOENT') throw fail(`the sops binary (${bin}) is not installed; install sops, or seal the value with age and use age:PATH`);
  if (r.spawnError || r.exitCode !== 0 || r.timedOut) {
    // sops's own message names the key or the file; it never echoes decrypted values.
    const why = r.stderr.split('\n').map((l) => l.trim()).filter(Boolean).pop() ?? `exit ${r.exitCode}`;
    throw fail(`sops could not decrypt ${keyPath} from ${p}: ${why}`);
  }
  return r.stdout;
}
