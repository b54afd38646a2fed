import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { MetisError } from '../lib/errors.js';

/**
 * Sealing with the real `age` binary (Debian's `age`; see docs/identity.md for why not the npm
 * library). Plaintext goes in on stdin when sealing; when opening, the operator's identities go in
 * on stdin and the plaintext comes out on stdout: no secret is ever on a command line or in a file.
 */

export const AGE_RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;

export class AgeError extends MetisError {}

interface RunResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

function runAge(args: string[], input: Buffer, env: NodeJS.ProcessEnv = process.env): Promise<RunResult> {
  const bin = env.METIS_AGE || 'age';
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    const out: Buffer[] = [];
    let err = '';
    p.stdout!.on('data', (b: Buffer) => out.push(b));
    p.stderr!.on('data', (b: Buffer) => (err += b.toString('utf8')));
    p.on('error', (e: NodeJS.ErrnoException) => {
      reject(
        e.code === 'ENOENT'
          ? new AgeError('E_AGE_MISSING', `the age binary (${bin}) is not installed: install it (Debian: apt-get install age)`)
          : new AgeError('E_AGE', `cannot run ${bin}: ${e.message}`),
      );
    });
    p.stdin!.on('error', () => {});
    p.stdin!.end(input);
    p.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
  });
}

/** Encrypts to every recipient, ASCII-armored so a sealed file diffs and reviews as text. */
export async function seal(plaintext: string | Buffer, recipients: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  if (recipients.length === 0) throw new AgeError('E_AGE_NO_RECIPIENTS', 'no age recipients to seal to');
  const args = ['--encrypt', '--armor', ...recipients.flatMap((r) => ['-r', r])];
  const r = await runAge(args, Buffer.from(plaintext), env);
  if (r.code !== 0) throw new AgeError('E_AGE', `age --encrypt failed: ${lastLine(r.stderr)}`);
  return r.stdout.toString('utf8');
}

/**
 * Decrypts the sealed file with the operator's identities (given to age on stdin: `-i -`). The
 * reasons age gives (no matching identity, bad header, damaged payload) are told apart.
 */
export async function unseal(file: string, identities: string, env?: NodeJS.ProcessEnv): Promise<string> {
  const what = file;
  const r = await runAge(['--decrypt', '-i', '-', '--', file], Buffer.from(identities), env);
  if (r.code === 0) return r.stdout.toString('utf8');
  const line = lastLine(r.stderr);
  if (/no identity matched/i.test(r.stderr)) {
    throw new AgeError('E_AGE_WRONG_KEY', `${what}: none of the operator's age keys opens it (it is sealed to other recipients): add your key's recipient to cluster.yaml identity.recipients and re-seal, or use the right key (--age-key FILE, SOPS_AGE_KEY_FILE)`, { file: what });
  }
  if (/header|armor|intro|parse|malformed|base64/i.test(r.stderr)) {
    throw new AgeError('E_AGE_CORRUPT', `${what}: not a readable age file (${line}); restore it from git or capture again`, { file: what });
  }
  throw new AgeError('E_AGE_CORRUPT', `${what}: cannot be decrypted (${line}); the file is damaged or truncated: restore it from git or capture again`, { file: what });
}

function lastLine(s: string): string {
  return s.split('\n').map((l) => l.replace(/^age: (error: )?/, '').trim()).filter((l) => l && !/report unexpected/.test(l)).pop() ?? 'no message';
}

export interface OperatorKeys {
  /** Identity file text (AGE-SECRET-KEY-… lines). Secret. */
  identities: string;
  /** Where they came from, for messages (never the key). */
  sources: string[];
}

/**
 * The operator's age identities, found as SOPS users expect: `--age-key FILE` first, then
 * SOPS_AGE_KEY (the key text), SOPS_AGE_KEY_FILE, and $XDG_CONFIG_HOME/sops/age/keys.txt
 * (~/.config/sops/age/keys.txt). All that exist are used together, as sops does.
 */
export async function operatorKeys(env: NodeJS.ProcessEnv, keyFile?: string): Promise<OperatorKeys> {
  const parts: string[] = [];
  const sources: string[] = [];
  const file = async (p: string, why: string, required: boolean) => {
    try {
      parts.push(await readFile(p, 'utf8'));
      sources.push(`${why} ${p}`);
    } catch (e) {
      if (required) throw new AgeError('E_AGE_KEY', `cannot read the age key file ${p} (${why}): ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { file: p });
    }
  };
  const flag = keyFile ?? env.METIS_AGE_KEY_FILE;
  if (flag) await file(flag, '--age-key', true);
  if (env.SOPS_AGE_KEY) {
    parts.push(env.SOPS_AGE_KEY);
    sources.push('SOPS_AGE_KEY');
  }
  if (env.SOPS_AGE_KEY_FILE) await file(env.SOPS_AGE_KEY_FILE, 'SOPS_AGE_KEY_FILE', true);
  const config = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  await file(join(config, 'sops/age/keys.txt'), 'default', false);
  const identities = parts.join('\n');
  if (!/AGE-SECRET-KEY-1/.test(identities)) {
    throw new AgeError(
      'E_AGE_KEY',
      `no age key found to open sealed files: pass --age-key FILE, or set SOPS_AGE_KEY_FILE or SOPS_AGE_KEY, or put it in ${join(config, 'sops/age/keys.txt')}${sources.length ? ` (looked in ${sources.join(', ')}: no AGE-SECRET-KEY line)` : ''}`,
    );
  }
  return { identities, sources };
}
