import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateOrRollback, networkModule, type LiveHooks } from '../../../src/bootstrap/modules/network.js';
import { applyPlanned, exampleManifest, makeContext, tempRoot } from '../../helpers/context.js';

/**
 * Safe apply for real, without systemd: two namespaces joined by a veth (the node's end is named
 * end0). "Activating" a networkd file here means putting its Address= on end0 with `ip`; probing is
 * a real ping from inside the node's namespace. The boot path with real networkd is the e2e's.
 */
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('skip: needs root: network namespaces');
const NODE = `metis-cap-node-${process.pid}`;
const GW = `metis-cap-gw-${process.pid}`;
const ip = (...a: string[]) => execFileSync('ip', a, { encoding: 'utf8' });
const NET_FILE = '/etc/systemd/network/10-metis-end0.network';

describe.skipIf(!isRoot)('network safe apply in a namespace (real veth, real ping)', () => {
  const { root, cleanup } = tempRoot('metis-cap-netrb-');
  beforeAll(() => {
    ip('netns', 'add', NODE);
    ip('netns', 'add', GW);
    ip('link', 'add', 'mcapgw0', 'netns', GW, 'type', 'veth', 'peer', 'name', 'end0', 'netns', NODE);
    ip('-n', GW, 'addr', 'add', '10.231.7.1/24', 'dev', 'mcapgw0');
    ip('-n', GW, 'link', 'set', 'mcapgw0', 'up');
    ip('-n', NODE, 'link', 'set', 'end0', 'up');
  });
  afterAll(() => {
    for (const ns of [NODE, GW]) execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    cleanup();
  });

  const ctx = makeContext({ root });
  const hooks: LiveHooks = {
    async activate() {
      const text = readFileSync(join(root, NET_FILE), 'utf8');
      ip('-n', NODE, 'addr', 'flush', 'dev', 'end0');
      for (const m of text.matchAll(/^Address=(\S+)$/gm)) ip('-n', NODE, 'addr', 'add', m[1]!, 'dev', 'end0');
    },
    async reachable(host) {
      for (let i = 0; i < 3; i++) {
        try {
          execFileSync('ip', ['netns', 'exec', NODE, 'ping', '-c', '1', '-W', '1', host], { stdio: 'ignore' });
          return true;
        } catch {
          /* bounded retries: 3 × ≤1 s */
        }
      }
      return false;
    },
  };
  const rename = async () => {};
  const apply = async (address: string, gateway: string) => {
    const args = networkModule.args.parse({ config: { ...exampleManifest().network, renderer: 'networkd', ipv4: { address, gateway } }, probeTimeoutSec: 3 });
    const plan = await networkModule.check(args, ctx); // not live: apply only writes the files
    const previous = [{ dest: NET_FILE, text: await ctx.fs.readText(NET_FILE), mode: (await ctx.fs.stat(NET_FILE))?.mode }];
    await applyPlanned(networkModule, args, ctx, plan);
    return activateOrRollback(ctx, args, previous, [], hooks, rename);
  };
  const nodeAddrs = () => ip('-n', NODE, '-4', '-o', 'addr', 'show', 'dev', 'end0');

  it('keeps a config whose gateway answers', async () => {
    expect(await apply('10.231.7.13/24', '10.231.7.1')).toBeUndefined();
    expect(nodeAddrs()).toContain('10.231.7.13/24');
    expect(readFileSync(join(root, NET_FILE), 'utf8')).toContain('Address=10.231.7.13/24');
  });

  it('rolls back a config that cuts the node off: old file and old live address are back, task failed with the reason', async () => {
    const good = readFileSync(join(root, NET_FILE), 'utf8');
    const failed = await apply('10.231.8.13/24', '10.231.8.1');
    expect(failed).toMatch(/10\.231\.8\.1 unreachable .* previous network config restored/);
    expect(readFileSync(join(root, NET_FILE), 'utf8')).toBe(good);
    expect(nodeAddrs()).toContain('10.231.7.13/24');
    expect(nodeAddrs()).not.toContain('10.231.8.13');
    expect(await hooks.reachable('10.231.7.1')).toBe(true);
  });
});
