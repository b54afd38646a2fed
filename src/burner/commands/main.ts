import '../../core/zod-setup.js';
import { closestFlag } from '../../core/flags.js';
import { VERSION } from '../../core/version.js';
import { errorMessage } from '../../lib/errors.js';
import { takeAgeKey } from './age-key.js';
import { EXIT, exitCodeOf } from './exit-codes.js';
import type { Io } from '../../inventory/io.js';

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

type Command = (argv: string[], io: Io) => Promise<number>;

// Each command's module (and what only it needs: the image builder, SSH, kubectl, the UI server)
// is loaded when that command runs: a burn's first write does not wait for the other commands'
// modules, schemas and node built-ins to be set up (the bundle keeps them; esbuild turns these
// imports into calls that initialise the module on first use).
const USAGES: Record<string, () => Promise<string>> = {
  nodes: async () => (await import('./nodes.js')).NODES_USAGE,
  manifest: async () => (await import('./manifest.js')).MANIFEST_USAGE,
  devices: async () => (await import('./devices.js')).DEVICES_USAGE,
  burn: async () => (await import('./burn.js')).BURN_USAGE,
  cache: async () => (await import('./cache.js')).CACHE_USAGE,
  image: async () => (await import('../../image/cli.js')).IMAGE_USAGE,
};

const COMMANDS: Record<string, () => Promise<Command>> = {
  nodes: async () => (await import('./nodes.js')).nodesCommand,
  manifest: async () => (await import('./manifest.js')).manifestCommand,
  devices: async () => (await import('./devices.js')).devicesCommand,
  burn: async () => (await import('./burn.js')).burnCommand,
  cache: async () => (await import('./cache.js')).cacheCommand,
  identity: async () => (await import('./identity.js')).identityCommand,
  replace: async () => (await import('./replace.js')).replaceCommand,
  wait: async () => (await import('./wait.js')).waitCommand,
  status: async () => (await import('../../fleet/status.js')).statusCommand,
  check: async () => (await import('../../fleet/check.js')).checkCommand,
  push: async () => (await import('../../fleet/push.js')).pushCommand,
  ui: async () => {
    const { uiCommand } = await import('../../ui/command.js');
    return (argv, io) => uiCommand(argv, io, runMetis);
  },
  // Hidden: what `burn --host` runs on the flashing host (src/remote/agent.ts).
  'burn-agent': async () => (await import('../../remote/agent.js')).burnAgentCommand,
};

/** The whole `metis` CLI as a function: returns the exit code, never exits (cli.ts does). */
export async function runMetis(argv: string[], io: Io): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === '--version' || cmd === '-V') {
    io.out(`metis ${VERSION}\n`);
    return EXIT.OK;
  }
  if (cmd === 'help' && rest[0]) {
    const text = Object.hasOwn(USAGES, rest[0]) ? await USAGES[rest[0]]!() : undefined;
    if (text === undefined) {
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
  const usage = Object.hasOwn(USAGES, cmd) ? USAGES[cmd] : undefined;
  if (usage && (flags.includes('--help') || flags.includes('-h'))) {
    io.out(`${await usage()}\n`);
    return EXIT.OK;
  }
  if (cmd === 'image') return (await import('../../image/cli.js')).imageCommand(rest, { out: (l) => io.out(`${l}\n`), err: (l) => io.err(`${l}\n`), distDir: distDir() });
  const load = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
  if (!load) {
    const near = closestFlag(cmd, Object.keys(USAGES));
    io.err(`metis: unknown command ${cmd}${near ? ` (did you mean ${near}?)` : ''}\n${USAGE}\n`);
    return EXIT.USAGE;
  }
  try {
    const run = await load();
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
