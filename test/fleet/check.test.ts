import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metis } from '../burner/commands/run.js';
import { startFleet, type Fleet } from './fleet-hosts.js';

// `metis check` over real sshd in network namespaces; each node runs the real bootstrap bundle
// against its own sysroot. Five nodes: converged, drifted, unreachable, host key changed, no Metis,
// plus a sixth whose card manifest is newer than its bootstrap.
const root = process.getuid?.() === 0;
if (!root) console.warn('test/fleet/check.test.ts: skipped: network namespaces and sshd need root');

let fleet: Fleet;
const run = (...argv: string[]) => metis(['check', '--inventory', fleet.inventory, ...argv], { env: fleet.env });
const secretFree = (s: string) => {
  expect(s).not.toContain(fleet.token);
  expect(s).not.toContain(fleet.nodePassword);
};

describe.skipIf(!root)('metis check', () => {
  beforeAll(async () => {
    fleet = await startFleet(6);
    for (const n of fleet.nodes) {
      await fleet.burnCard(n.name);
      expect([0, 2]).toContain(await fleet.converge(n.name));
    }
  }, 240_000);
  afterAll(async () => fleet?.stop());

  it('all converged: one recap line per host, exit 0', async () => {
    const r = await run('--all');
    expect(r.code, r.err + r.out).toBe(0);
    expect(r.out).toMatch(/^CHECK RECAP \*+$/m);
    for (const n of fleet.nodes) expect(r.out).toMatch(new RegExp(`^${n.name} : ok=\\d+ +changed=0 +unreachable=0 failed=0 +skipped=\\d+ +ok `, 'm'));
    secretFree(r.out + r.err);
  }, 120_000);

  it('drift, unreachable, host key mismatch, no Metis and a newer manifest: each its own status; exit 2|4|8', async () => {
    const [conv, drifted, gone, rekeyed, bare, newer] = fleet.nodes;
    writeFileSync(join(drifted!.root, 'etc/systemd/journald.conf.d/60-metis.conf'), '[Journal]\nStorage=volatile\n');
    process.kill(gone!.host.sshdPid, 'SIGTERM');
    writeFileSync(rekeyed!.host.knownHosts, `[${rekeyed!.host.addr}]:${rekeyed!.host.port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPRmABP4nzXJlm3g1mXswQ5x7CDlV2P3NORfaZwINPlD other-host\n`);
    rmSync(bare!.program);
    writeFileSync(newer!.card, readFileSync(newer!.card, 'utf8').replace(/^schemaVersion: 1$/m, 'schemaVersion: 2'));
    const journald = readFileSync(join(drifted!.root, 'etc/systemd/journald.conf.d/60-metis.conf'), 'utf8');

    const r = await run('--all', '--diff', '--parallel', '3', '--timeout', '60');
    const line = (n: string) => r.out.split('\n').find((l) => l.startsWith(`${n} :`)) ?? '';
    expect(line(conv!.name)).toMatch(/ ok /);
    expect(line(drifted!.name)).toMatch(/changed=1 .* drift /);
    expect(line(gone!.name)).toMatch(/unreachable=1 .* unreachable .*Connection refused/);
    expect(line(rekeyed!.name)).toMatch(/unreachable=1 .* host-key .*host key verification failed/);
    expect(line(bare!.name)).toMatch(/ no-metis .*not found/);
    expect(line(newer!.name)).toMatch(/ manifest-newer .*schemaVersion 2 is not supported/);
    // The drifted task in the table, and its diff under --diff.
    expect(r.out).toMatch(new RegExp(`^${drifted!.name} +drift +\\S.*journald`, 'm'));
    expect(r.out).toContain(`=== ${drifted!.name}`);
    expect(r.out).toContain('-Storage=volatile');
    expect(r.code).toBe(2 | 8);
    // A check changes nothing on the node.
    expect(readFileSync(join(drifted!.root, 'etc/systemd/journald.conf.d/60-metis.conf'), 'utf8')).toBe(journald);
    secretFree(r.out + r.err);

    const j = await run('--all', '--json');
    const byNode = Object.fromEntries((JSON.parse(j.out) as Array<{ node: string; status: string }>).map((x) => [x.node, x.status]));
    expect(byNode).toEqual({ [conv!.name]: 'ok', [drifted!.name]: 'drift', [gone!.name]: 'unreachable', [rekeyed!.name]: 'host-key', [bare!.name]: 'no-metis', [newer!.name]: 'manifest-newer' });
    secretFree(j.out + j.err);

    // Named nodes only.
    const one = await run(conv!.name, drifted!.name);
    expect(one.out.split('\n').filter((l) => / : ok=/.test(l))).toHaveLength(2);
  }, 180_000);

  it('usage: neither nodes nor --all, both, a bad --parallel, an unknown node', async () => {
    expect((await run()).code).toBe(64);
    expect((await run('--all', fleet.nodes[0]!.name)).code).toBe(64);
    expect((await run('--all', '--parallel', '0')).code).toBe(64);
    const unknown = await run('nope-1');
    expect(unknown.code).toBe(3);
    expect(unknown.err).toMatch(/not in .*nodes: nope-1/);
  });
});
