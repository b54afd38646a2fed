import type { Io } from '../inventory/io.js';

/**
 * Asks for a password on the operator's terminal without echo. Returns null when there is no
 * terminal (the caller then refuses; a password never comes from argv, env or a file).
 * `io.askSecret` lets an embedding supply its own prompt.
 */
export async function askHidden(io: Io & { askSecret?: (q: string) => Promise<string | null> }, question: string): Promise<string | null> {
  if (io.askSecret) return io.askSecret(question);
  const stdin = process.stdin;
  if (!io.isTTY || !stdin.isTTY) return null;
  io.err(question);
  return new Promise((resolve, reject) => {
    let text = '';
    const done = (fn: () => void) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      io.err('\n');
      fn();
    };
    const onData = (b: Buffer) => {
      for (const ch of b.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done(() => resolve(text));
        if (ch === '\x03') return done(() => reject(Object.assign(new Error('interrupted'), { code: 'E_ABORTED' })));
        if (ch === '\x04') return done(() => resolve(text));
        if (ch === '\x7f' || ch === '\b') text = text.slice(0, -1);
        else if (ch === '\x15') text = '';
        else text += ch;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}
