import { execa } from 'execa';
import { MetisError } from '../lib/errors.js';

export type Log = (line: string) => void;

/** Runs one host tool (argv only, never a shell string); a failure names the tool and its stderr tail. */
export async function run(log: Log, cmd: string, args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<string> {
  log(`$ ${cmd} ${args.join(' ')}`);
  const r = await execa(cmd, args, { reject: false, input: opts.input, env: opts.env, stripFinalNewline: true });
  if (r.exitCode !== 0) {
    const tail = String(r.stderr || r.stdout).split('\n').slice(-8).join('\n');
    throw new MetisError('E_IMAGE_TOOL', `${cmd} failed (exit ${r.exitCode ?? r.signal}):\n${tail}`);
  }
  return String(r.stdout);
}
