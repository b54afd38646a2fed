import { parseArgs } from 'node:util';
import type { Report } from '../bootstrap/report.js';
import { loadInventory } from '../inventory/load.js';
import { inventoryDir, type Io } from '../inventory/io.js';
import { formatSshTarget } from '../lib/ssh.js';
import { FleetUsageError, fleetCommand, usage } from './exit.js';
import { diffText, fleetExit, recapLines, taskTable } from './recap.js';
import { fanOut, reportStatus, runRemoteJson, type HostResult } from './remote.js';
import { selectNodes, type FleetNode } from './targets.js';

export const CHECK_USAGE = 'usage: metis check (NODE…|--all) [--diff] [--json] [--parallel N] [--timeout S] [--inventory DIR]';

export interface FanOutOptions {
  parallel: number;
  timeoutMs: number;
}

export function fanOutFlags(v: { parallel?: string; timeout?: string }): FanOutOptions {
  const parallel = Number(v.parallel ?? 10);
  const timeout = Number(v.timeout ?? 120);
  if (!Number.isInteger(parallel) || parallel < 1 || parallel > 256) throw new FleetUsageError(`--parallel must be an integer 1-256, not ${v.parallel}`);
  if (!Number.isFinite(timeout) || timeout <= 0 || timeout > 3600) throw new FleetUsageError(`--timeout must be seconds in (0, 3600], not ${v.timeout}`);
  return { parallel, timeoutMs: Math.round(timeout * 1000) };
}

/** One host: `metis-bootstrap --check [--diff] --json` over SSH, its report classified. */
export async function checkHost(node: FleetNode, diff: boolean, o: FanOutOptions, io: Io): Promise<HostResult> {
  const t0 = Date.now();
  const r = await runRemoteJson<Report>(node, ['--check', ...(diff ? ['--diff'] : [])], { env: io.env, timeoutMs: o.timeoutMs, signal: io.signal });
  const base = { node: node.name, target: formatSshTarget(node.ssh), durationMs: Date.now() - t0, ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}) };
  if (r.status !== 'ok' || !r.value) return { ...base, status: r.status, message: r.message };
  return { ...base, ...reportStatus(r.value, 'check'), report: r.value };
}

/**
 * `metis check`: drift across the fleet. Fans out over SSH (bounded, per-host timeout); every node
 * runs its own `metis-bootstrap --check --json` against its own card; a recap line per host as
 * Ansible prints, then the drifted tasks. Exit: OR of 2 drift, 4 failed, 8 not judged.
 */
export const checkCommand = fleetCommand('check', async (argv: string[], io: Io): Promise<number> => {
  const { values, positionals } = usage(CHECK_USAGE, () =>
    parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        all: { type: 'boolean', default: false },
        diff: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        parallel: { type: 'string' },
        timeout: { type: 'string' },
        inventory: { type: 'string' },
      },
    }),
  );
  if (values.all === positionals.length > 0) throw new FleetUsageError(`name nodes or give --all (not both)\n${CHECK_USAGE}`);
  const fan = fanOutFlags(values);
  const inv = await loadInventory(inventoryDir(values.inventory));
  const nodes = selectNodes(inv, positionals);
  const results = await fanOut(nodes, fan.parallel, (n) => checkHost(n, values.diff, fan, io));
  if (values.json) io.out(`${JSON.stringify(results, null, 2)}\n`);
  else {
    if (values.diff) io.out(diffText(results));
    io.out(recapLines('CHECK RECAP', results));
    const t = taskTable(results);
    if (t) io.out(`\n${t}`);
  }
  return fleetExit(results);
});
