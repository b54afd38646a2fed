import { errorMessage } from '../../lib/errors.js';
import { imageCommand } from '../../image/cli.js';
import { VERSION } from '../../bootstrap/version.js';
import { burnCommand } from './burn.js';
import { cacheCommand } from './cache.js';
import { devicesCommand } from './devices.js';
import { EXIT, exitCodeOf } from './exit-codes.js';
import type { Io } from './io.js';
import { manifestCommand } from './manifest.js';
import { nodesCommand } from './nodes.js';
import { uiCommand } from '../../ui/command.js';

export const USAGE = `usage: metis COMMAND [options]

  nodes    [--inventory DIR] [--json]                 list the inventory's nodes
  manifest NODE [--inventory DIR] [--reveal-secrets]  the manifest a burn writes (secrets masked)
  devices  [--json]                                   candidate disks; system disks marked
  burn     NODE (--device DEV | --to FILE) [--image PATH|URL|oci://…] [--sha256 HEX]
           [--bmap FILE] [--yes] [--json] [--no-verify] [--inventory DIR] [--cache DIR]
  cache    ls|prune [--cache DIR] [--all]             the content-addressed image cache
  image    build|push …                               build and publish class images
  ui       [--port N] [--no-open] [--inventory DIR]   the same flow in a browser page (127.0.0.1 only)

Inventory: ./inventory unless --inventory. Cache: --cache, METIS_CACHE_DIR, $XDG_CACHE_HOME/metis, ~/.cache/metis.
Exit codes: 0 ok, 1 error, 2 usage, 3 invalid inventory/manifest/secret, 4 image fetch or sha256,
5 not confirmed, 6 write/verify/manifest injection failed, 20-26 target refused.`;

const COMMANDS: Record<string, (argv: string[], io: Io) => Promise<number>> = {
  nodes: nodesCommand,
  manifest: manifestCommand,
  devices: devicesCommand,
  burn: burnCommand,
  cache: cacheCommand,
  ui: (argv, io) => uiCommand(argv, io, runMetis),
};

/** The whole `metis` CLI as a function: returns the exit code, never exits (cli.ts does). */
export async function runMetis(argv: string[], io: Io): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === '--version' || cmd === '-V') {
    io.out(`metis ${VERSION}\n`);
    return EXIT.OK;
  }
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    io.out(`${USAGE}\n`);
    return cmd ? EXIT.OK : EXIT.USAGE;
  }
  if (cmd === 'image') return imageCommand(rest, { out: (l) => io.out(`${l}\n`), err: (l) => io.err(`${l}\n`), distDir: distDir() });
  const run = COMMANDS[cmd];
  if (!run) {
    io.err(`metis: unknown command ${cmd}\n${USAGE}\n`);
    return EXIT.USAGE;
  }
  try {
    return await run(rest, io);
  } catch (err) {
    const code = exitCodeOf(err);
    io.err(`metis ${cmd}: ${errorMessage(err)}\n`);
    if (code === EXIT.USAGE && !errorMessage(err).includes('usage:')) io.err(`run metis --help for usage\n`);
    return code;
  }
}

function distDir(): string {
  const main = process.argv[1] ?? '.';
  return main.slice(0, Math.max(0, main.lastIndexOf('/'))) || '.';
}
