import { createInterface } from 'node:readline/promises';
import { resolve } from 'node:path';
import { type SecretResolver, secretResolver } from './secrets.js';

/** Everything a command touches outside itself, so tests run commands in-process. */
export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  /** Whether stdin and stderr are a terminal (prompts, the progress bar). */
  isTTY: boolean;
  /** Asks one question on the terminal; null when there is none. */
  ask: (question: string) => Promise<string | null>;
  env: NodeJS.ProcessEnv;
  secrets?: SecretResolver;
  signal?: AbortSignal;
}

export function processIo(signal?: AbortSignal): Io {
  const isTTY = Boolean(process.stdin.isTTY && process.stderr.isTTY);
  return {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    isTTY,
    ask: async (q) => {
      if (!isTTY) return null;
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try {
        return await rl.question(q);
      } finally {
        rl.close();
      }
    },
    env: process.env,
    signal,
  };
}

export function inventoryDir(flag: string | undefined): string {
  return resolve(flag ?? 'inventory');
}

export function resolverFor(io: Io, dir: string): SecretResolver {
  return io.secrets ?? secretResolver(dir, io.env);
}

export function humanSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}
