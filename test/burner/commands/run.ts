import { runMetis } from '../../../src/burner/commands/main.js';
import type { Io } from '../../../src/inventory/io.js';

export interface Ran {
  code: number;
  out: string;
  err: string;
  asked: string[];
}

/** Runs the CLI in-process with captured output; `answer` is what the "terminal" types (null: no TTY). */
export async function metis(argv: string[], opts: { env?: NodeJS.ProcessEnv; answer?: string | null } = {}): Promise<Ran> {
  let out = '';
  let err = '';
  const asked: string[] = [];
  const answer = opts.answer === undefined ? null : opts.answer;
  const io: Io = {
    out: (s) => (out += s),
    err: (s) => (err += s),
    isTTY: answer !== null,
    ask: async (q) => {
      asked.push(q);
      return answer;
    },
    env: { PATH: process.env['PATH'], ...opts.env },
  };
  const code = await runMetis(argv, io);
  return { code, out, err, asked };
}
