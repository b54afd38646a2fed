import '../../core/zod-setup.js';
import { closestFlag } from '../../core/flags.js';
import { VERSION } from '../../core/version.js';
import { errorMessage } from '../../lib/errors.js';
import { IMAGE_USAGE, imageCommand } from '../../image/cli.js';
import { burnAgentCommand } from '../../remote/agent.js';
import { checkCommand } from '../../fleet/check.js';
import { pushCommand } from '../../fleet/push.js';
import { statusCommand } from '../../fleet/status.js';
import { uiCommand } from '../../ui/command.js';
import { takeAgeKey } from './age-key.js';
import { BURN_USAGE, burnCommand } from './burn.js';
import { CACHE_USAGE, cacheCommand } from './cache.js';
import { DEVICES_USAGE, devicesCommand } from './devices.js';
import { EXIT, exitCodeOf } from './exit-codes.js';
import { identityCommand } from './identity.js';
import type { Io } from '../../inventory/io.js';
import { MANIFEST_USAGE, manifestCommand } from './manifest.js';
import { NODES_USAGE, nodesCommand } from './nodes.js';
import { replaceCommand } from './replace.js';
import { waitCommand } from './wait.js';

export const USAGE = `usage: metis COMMAND [options]      (metis help COMMAND, or COMMAND --help, for one command)

The card
  nodes    [--inventory DIR] [--json]                 list the inventory's nodes
  manifest NODE [--inventory DIR] [--reveal-secrets]  the manifest a burn writes (secrets masked)
  devices  [--json] [--host H [--wait-new]]           candidate disks, here or on a flashing host; system disks marked
  burn     NODE (--device DEV | --to FILE) [--host H] [--image PATH|URL|oci://…] [--sha256 HEX]
           [--require-digest] [--bmap FILE] [--yes] [--json] [--no-verify] [--inventory DIR] [--cache DIR]
  cache    ls|prune [--cache DIR] [--all]             the content-addressed image cache
  image    build|push|keygen …                        build, publish and sign class images
  ui       [--port N] [--no-open] [--inventory DIR]   the same flow in a browser page (127.0.0.1 only)

The node, as itself
  identity capture NODE…|--all | show [NODE…]        escrow a node's identity, sealed with age (docs/identity.md)
  replace  NODE (--device DEV | --to FILE) [--host H] [--wait] [--context C] [--yes]
                                                      prepare the cluster, burn, say what to do on site
  wait     NODE [--timeout D] [--context C]           checklist until the node is back as itself (docs/replace.md)

The fleet
  status   [NODE…] [--json] [--context C]            from the cluster: converged, drift, manifest current
  check    NODE…|--all [--diff] [--json] [--parallel N] [--timeout S]  drift on each node, over SSH
  push     NODE… [--check] [--diff] [--json]          the inventory's manifest onto running nodes, then converge

Inventory: ./inventory unless --inventory. Cache: --cache, METIS_CACHE_DIR, $XDG_CACHE_HOME/metis, ~/.cache/metis.
Sealed secrets (age:, sops:, identity escrow): --age-key FILE, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, ~/.config/sops/age/keys.txt.
Exit codes: 0 ok, 1 error, 2 usage, 3 invalid inventory/manifest/secret, 4 image (fetch, sha256, unusable),
5 not confirmed, 6 write/verify/manifest injection failed (burn again), 7 flashing host unusable,
20-28 target refused (20 missing, 21 system disk, 22 mounted/in use, 23 holds the source, 24 too small,
25 read-only, 26 not a whole disk, 27 claimed by another metis burn, 28 no write access),
30-34 signature refused, 40 cluster preflight refused, 41 wait timed out, 130/143 interrupted.
status/check/push: OR of 2 drift/changes, 4 failed, 8 not judged (unreachable, stale…); 64 usage (docs/fleet.md).`;

const USAGES: Record<string, string> = {
  nodes: NODES_USAGE,
  manifest: MANIFEST_USAGE,
  devices: DEVICES_USAGE,
  burn: BURN_USAGE,
  cache: CACHE_USAGE,
  image: IMAGE_USAGE,
};

const COMMANDS: Record<string, (argv: string[], io: Io) => Promise<number>> = {
  nodes: nodesCommand,
  manifest: manifestCommand,
  devices: devicesCommand,
  burn: burnCommand,
  cache: cacheCommand,
  identity: identityCommand,
  replace: replaceCommand,
  wait: waitCommand,
  status: statusCommand,
  check: checkCommand,
  push: pushCommand,
  ui: (argv, io) => uiCommand(argv, io, runMetis),
  // Hidden: what `burn --host` runs on the flashing host (src/remote/agent.ts).
  'burn-agent': burnAgentCommand,
};

/** The whole `metis` CLI as a function: returns the exit code, never exits (cli.ts does). */
export async function runMetis(argv: string[], io: Io): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === '--version' || cmd === '-V') {
    io.out(`metis ${VERSION}\n`);
    return EXIT.OK;
  }
  if (cmd === 'help' && rest[0]) {
    const text = USAGES[rest[0]];
    if (!text) {
      io.err(`metis: no command ${rest[0]}\n${USAGE}\n`);
      return EXIT.USAGE;
    }
    io.out(`${text}\n`);
    return EXIT.OK;
  }
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    if (cmd) io.out(`${USAGE}\n`);
    else io.err(`${USAGE}\n`);
    return cmd ? EXIT.OK : EXIT.USAGE;
  }
  // COMMAND --help anywhere before a `--`: that command's usage, nothing else runs.
  const flags = rest.indexOf('--') < 0 ? rest : rest.slice(0, rest.indexOf('--'));
  if (USAGES[cmd] && (flags.includes('--help') || flags.includes('-h'))) {
    io.out(`${USAGES[cmd]}\n`);
    return EXIT.OK;
  }
  if (cmd === 'image') return imageCommand(rest, { out: (l) => io.out(`${l}\n`), err: (l) => io.err(`${l}\n`), distDir: distDir() });
  const run = COMMANDS[cmd];
  if (!run) {
    const near = closestFlag(cmd, Object.keys(USAGES));
    io.err(`metis: unknown command ${cmd}${near ? ` (did you mean ${near}?)` : ''}\n${USAGE}\n`);
    return EXIT.USAGE;
  }
  try {
    return await run(...takeAgeKey(rest, io));
  } catch (err) {
    const code = exitCodeOf(err);
    io.err(`metis ${cmd}: ${errorMessage(err)}\n`);
    if (code === EXIT.USAGE && !/usage:|metis help/.test(errorMessage(err))) io.err(`see metis help ${cmd}\n`);
    return code;
  }
}

function distDir(): string {
  const main = process.argv[1] ?? '.';
  return main.slice(0, Math.max(0, main.lastIndexOf('/'))) || '.';
}
