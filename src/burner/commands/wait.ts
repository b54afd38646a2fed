import { parseArgs } from 'node:util';
import { operatorKeys } from '../../identity/age.js';
import { type Escrow, fingerprint, hasEscrow, readEscrow } from '../../identity/escrow.js';
import { loadBurnRecord } from '../../fleet/burn-record.js';
import { escrowSshEnv, firstUseSshEnv, hostPattern } from '../../fleet/escrow-ssh.js';
import { nodeSshTarget } from '../../fleet/node-target.js';
import { type CheckResult, expectedChecks, CHECK_ORDER, waitForNode } from '../../fleet/wait.js';
import type { Manifest } from '../../manifest/schema.js';
import { loadInventory } from '../../inventory/load.js';
import { nodeManifest } from '../../inventory/merge.js';
import { UsageError } from './exit-codes.js';
import { inventoryDir, type Io, resolverFor } from '../../inventory/io.js';

const USAGE = 'usage: metis wait NODE [--timeout D] [--interval D] [--context C] [--kubeconfig FILE] [--manifest-sha256 HEX] [--state-dir DIR] [--inventory DIR] [--age-key FILE]';

/** `15m`, `90s`, `1h`, or plain seconds. */
export function parseDuration(s: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim());
  if (!m) throw new UsageError(`${flag} must be a duration like 90s, 15m or 1h`);
  const n = Number(m[1]);
  return Math.round(n * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's'] ?? 1000));
}

export interface WaitArgs {
  node: string;
  timeoutMs: number;
  intervalMs: number;
  context?: string;
  kubeconfig?: string;
  manifestSha256?: string | null;
  inventory?: string;
  /** metis-bootstrap's state directory on the node (default /var/lib/metis). */
  stateDir?: string;
  /** Already built by replace: avoids resolving the secrets twice. */
  manifest?: Manifest;
}

export async function waitCommand(argv: string[], io: Io): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      timeout: { type: 'string', default: '15m' },
      interval: { type: 'string', default: '5s' },
      context: { type: 'string' },
      kubeconfig: { type: 'string' },
      'manifest-sha256': { type: 'string' },
      inventory: { type: 'string' },
      'state-dir': { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new UsageError(`wait takes one NODE\n${USAGE}`);
  const sha = v['manifest-sha256'];
  if (sha && !/^[0-9a-f]{64}$/.test(sha)) throw new UsageError('--manifest-sha256 must be 64 lowercase hex characters');
  return waitFor(io, { node: positionals[0]!, timeoutMs: parseDuration(v.timeout, '--timeout'), intervalMs: parseDuration(v.interval, '--interval'), context: v.context, kubeconfig: v.kubeconfig, manifestSha256: sha, inventory: v.inventory, stateDir: v['state-dir'] });
}

/** The checklist, drawn live: on a terminal one line per check redrawn; otherwise each change printed once. */
export async function waitFor(io: Io, a: WaitArgs): Promise<number> {
  const dir = inventoryDir(a.inventory);
  const inv = await loadInventory(dir);
  const manifest = a.manifest ?? (await nodeManifest(inv, a.node, resolverFor(io, dir)));
  const target = nodeSshTarget(inv, a.node);
  let escrow: Escrow | null = null;
  if (await hasEscrow(dir, a.node)) escrow = await readEscrow(dir, a.node, (await operatorKeys(io.env)).identities, io.env);
  else io.err(`${a.node}: no identity escrow: the node has a new identity; its SSH host key cannot be proven and is trusted on first use\n`);
  const rec = a.manifestSha256 === undefined ? await loadBurnRecord(io.env, a.node) : null;
  const hash = a.manifestSha256 !== undefined ? a.manifestSha256 : (rec?.manifestSha256 ?? null);
  if (!hash) io.err(`${a.node}: no record of the burned manifest's sha256 (burned elsewhere?): any converged run counts\n`);
  const port = target.port ?? 22;
  const ssh = escrow ? await escrowSshEnv(escrow, target.host, port, io.env) : await firstUseSshEnv(io.env);
  const want = expectedChecks(manifest);
  const titles = new Map(CHECK_ORDER.map((c) => [c.id, c.title]));
  let previous = '';
  const draw = (results: CheckResult[]) => {
    const lines = want.map((id, i) => {
      const r = results[i];
      const mark = r ? (r.ok ? '[ok]' : '[..]') : '[  ]';
      return `${mark} ${r?.title ?? titles.get(id)}${r && !r.ok ? `: ${r.detail}` : ''}`;
    });
    const text = lines.join('\n');
    if (text === previous) return;
    if (io.isTTY && previous) io.err(`\x1b[${want.length}A\x1b[J`);
    else if (previous) io.err('--\n');
    io.err(`${text}\n`);
    previous = text;
  };
  try {
    io.err(`waiting for ${a.node} (${target.host}, up to ${Math.round(a.timeoutMs / 1000)} s)\n`);
    await waitForNode({ manifest, target, sshEnv: ssh.env, escrow, manifestSha256: hash, kube: { context: a.context, kubeconfig: a.kubeconfig, env: io.env }, stateDir: a.stateDir }, { timeoutMs: a.timeoutMs, intervalMs: a.intervalMs, onRound: draw, signal: io.signal });
    io.out(`${a.node} is back${escrow ? ' as itself (host key = escrowed key)' : ' (new identity)'}: ${want.length} checks hold\n`);
    if (!escrow) {
      // What was trusted, so the operator can compare it on the node's console and fix their known_hosts.
      const pattern = hostPattern(target.host, port);
      for (const line of await ssh.knownKeys()) {
        const key = line.split(/\s+/).slice(1).join(' '); // known_hosts: HOST TYPE BASE64
        io.out(`${a.node}: new SSH host key (trusted on first use, not proven): ${key.split(' ')[0]} ${fingerprint(key)}\n`);
      }
      io.out(`${a.node}: compare it on the node (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub); your known_hosts may still hold the old card's key: ssh-keygen -R '${pattern}'\n`);
    }
    return 0;
  } finally {
    await ssh.cleanup();
  }
}
