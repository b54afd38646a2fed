import { parseArgs } from 'node:util';
import { UsageError } from '../burner/commands/exit-codes.js';
import type { Io } from '../inventory/io.js';
import type { RunMetis } from './line-io.js';
import { openBrowser } from './open-browser.js';
import { startUiServer } from './server.js';

export const UI_USAGE = 'usage: metis ui [--port N] [--no-open] [--inventory DIR] [--cache DIR]';

/**
 * `metis ui`: the graphical flow (node → card → write → the node rejoins) served on 127.0.0.1 until
 * Ctrl-C. Every action is the CLI's own command run in-process by `run` (runMetis), so the page has
 * no burn path of its own.
 */
export async function uiCommand(argv: string[], io: Io, run: RunMetis): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      port: { type: 'string', default: '0' },
      'no-open': { type: 'boolean', default: false },
      inventory: { type: 'string' },
      cache: { type: 'string' },
    },
  });
  if (positionals.length) throw new UsageError(UI_USAGE);
  const port = Number(v.port);
  if (!/^\d+$/.test(v.port) || port > 65535) throw new UsageError(`--port must be a number 0-65535 (0: any free port)\n${UI_USAGE}`);
  const server = await startUiServer({ port, run, io, inventory: v.inventory, cache: v.cache });
  io.out(`metis ui: ${server.url}\n`);
  io.err(`Serving on 127.0.0.1:${server.port} only; open the address above (it carries this launch's token).\n` +
    `From another computer: ssh -L ${server.port}:127.0.0.1:${server.port} THIS-HOST, then open the same address there.\n` +
    `Ctrl-C stops it.\n`);
  const cleanup = v['no-open'] ? null : await openBrowser(server.url, io.env).catch(() => null);
  await new Promise<void>((resolve) => {
    if (!io.signal) return; // Without a signal nothing can stop it: serve until the process ends.
    if (io.signal.aborted) return resolve();
    io.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  io.err('metis ui: stopping\n');
  await server.close();
  await cleanup?.();
  return 0;
}
