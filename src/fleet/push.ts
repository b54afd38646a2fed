import { parseArgs } from 'node:util';
import type { InstallResult } from '../bootstrap/install-main.js';
import { loadInventory } from '../inventory/load.js';
import { nodeManifest } from '../inventory/merge.js';
import { inventoryDir, resolverFor, type Io } from '../inventory/io.js';
import { formatSshTarget } from '../lib/ssh.js';
import { Redactor } from '../lib/redact.js';
import { manifestSecrets, serializeManifest } from '../manifest/load.js';
import { fanOutFlags } from './check.js';
import { FleetUsageError, fleetCommand, usage } from './exit.js';
import { diffText, fleetExit, recapLines, taskTable } from './recap.js';
import { fanOut, reportStatus, runRemoteJson, type HostResult, type HostStatus } from './remote.js';
import { selectNodes } from './targets.js';

export const PUSH_USAGE = 'usage: metis push NODE… [--check] [--diff] [--json] [--parallel N] [--timeout S] [--inventory DIR]';

export interface PushResult extends HostResult {
  /** The card manifest's changed lines (secrets redacted on the node); null when the node did not answer. */
  manifestDiff: string[] | null;
  written: boolean;
}

const INSTALL_STATUS: Record<string, HostStatus> = {
  E_SCHEMA_VERSION: 'manifest-newer',
  E_WRONG_NODE: 'refused',
  E_VALIDATION: 'refused',
  E_NO_MANIFEST: 'no-manifest',
};

/**
 * `metis push`: the inventory's current manifest onto running nodes' cards, no reflash. Every
 * manifest is built and validated before any node is contacted; each travels on the stdin of
 * `metis-bootstrap --install-manifest - --json` (secrets never in argv), which validates it again
 * with its own schema, writes it atomically beside the card's node.yaml and converges. --check
 * shows the manifest diff and the node's check against the new manifest, writing nothing.
 */
export const pushCommand = fleetCommand('push', async (argv: string[], io: Io): Promise<number> => {
  const { values, positionals } = usage(PUSH_USAGE, () =>
    parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        check: { type: 'boolean', default: false },
        diff: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        parallel: { type: 'string' },
        timeout: { type: 'string' },
        inventory: { type: 'string' },
      },
    }),
  );
  if (!positionals.length) throw new FleetUsageError(`name the nodes to push to\n${PUSH_USAGE}`);
  const fan = fanOutFlags({ parallel: values.parallel, timeout: values.timeout ?? '900' });
  const dir = inventoryDir(values.inventory);
  const inv = await loadInventory(dir);
  const nodes = selectNodes(inv, positionals);
  const resolve = resolverFor(io, dir);
  const texts = new Map<string, string>();
  const secrets: string[] = [];
  for (const n of nodes) {
    const m = await nodeManifest(inv, n.name, resolve);
    secrets.push(...manifestSecrets(m).map((s) => s.value));
    texts.set(n.name, serializeManifest(m));
  }
  const redact = new Redactor(secrets);

  const results = await fanOut(nodes, fan.parallel, async (node): Promise<PushResult> => {
    const t0 = Date.now();
    const args = ['--install-manifest', '-', ...(values.check ? ['--check'] : []), ...(values.diff ? ['--diff'] : [])];
    const r = await runRemoteJson<InstallResult>(node, args, { env: io.env, timeoutMs: fan.timeoutMs, input: texts.get(node.name), signal: io.signal });
    const base = { node: node.name, target: formatSshTarget(node.ssh), durationMs: Date.now() - t0, ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}) };
    const v = r.value;
    if (r.status !== 'ok' || !v) return { ...base, status: r.status, message: r.message, manifestDiff: null, written: false };
    const install = { manifestDiff: v.install?.diff ?? null, written: v.install?.written ?? false };
    if (v.error !== undefined) return { ...base, ...install, status: INSTALL_STATUS[v.errorCode ?? ''] ?? 'error', message: v.error };
    if (!v.report) return { ...base, ...install, status: 'error', message: 'the node answered without a report' };
    return { ...base, ...install, ...reportStatus(v.report, values.check ? 'check' : 'apply'), report: v.report };
  });

  if (values.json) io.out(redact.text(`${JSON.stringify(results, null, 2)}\n`));
  else {
    let out = '';
    for (const r of results) {
      if (r.manifestDiff === null) continue;
      out += r.manifestDiff.length ? `--- ${r.node}: node.yaml${values.check ? ' (would change)' : r.written ? ' (written)' : ''}\n${r.manifestDiff.join('\n')}\n` : `--- ${r.node}: node.yaml unchanged\n`;
    }
    if (values.diff) out += diffText(results);
    out += recapLines(values.check ? 'PUSH --check RECAP' : 'PUSH RECAP', results);
    const t = taskTable(results);
    if (t) out += `\n${t}`;
    io.out(redact.text(out));
  }
  return fleetExit(results);
});
