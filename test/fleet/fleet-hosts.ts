import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadInventory } from '../../src/inventory/load.js';
import { nodeManifest } from '../../src/inventory/merge.js';
import { secretResolver } from '../../src/inventory/secrets.js';
import { serializeManifest } from '../../src/manifest/load.js';
import { startSshHosts, type SshHost } from '../helpers/ssh-host.js';
import { makeSysroot } from '../bootstrap/sysroot.js';
import { BUNDLE, ensureBundle } from '../bootstrap/bundle.js';

/**
 * A fleet for the fleet commands: N nodes, each a network namespace running Debian's real sshd
 * (test/helpers/ssh-host.ts) and a temp sysroot whose card manifest the real bootstrap bundle
 * converges (`node dist/metis-bootstrap.js --root SYSROOT`, reached as METIS_BOOTSTRAP over SSH),
 * and an inventory naming each node by its namespace address and sshd port.
 */
export interface FleetNodeFixture {
  name: string;
  host: SshHost;
  root: string;
  /** The per-node program METIS_BOOTSTRAP names; remove it to make a node "without Metis". */
  program: string;
  card: string;
}

export interface Fleet {
  dir: string;
  inventory: string;
  nodes: FleetNodeFixture[];
  /** Env for `metis` (METIS_SSH_CONFIG, METIS_BOOTSTRAP, the token source). */
  env: NodeJS.ProcessEnv;
  token: string;
  nodePassword: string;
  /** Writes the inventory's current manifest onto a node's card (as a burn would). */
  burnCard(name: string): Promise<void>;
  /** Runs the node's bootstrap locally (as its timer would): exit code. Async: a stand-in API server may live in this process. */
  converge(name: string, ...args: string[]): Promise<number>;
  /**
   * An address of this machine every node can reach (node 1's veth peer): where a test serves the
   * cluster API, since a node's 127.0.0.1 is its own namespace's. Routes it from every namespace.
   */
  apiAddress(): Promise<string>;
  stop(): Promise<void>;
}

export const CLASS_YAML = `arch: amd64
network:
  interface: end0
  renderer: networkd
k3s:
  role: agent
  version: v1.31.5+k3s1
  labels:
    metis.io/class: fleet-test
journald:
  storage: persistent
  systemMaxUse: 64M
`;

export async function startFleet(count: number, opts: { prefix?: string; login?: 'debian' | 'empty' | 'machine' } = {}): Promise<Fleet> {
  ensureBundle();
  const dir = mkdtempSync(join(tmpdir(), 'metis-fleet-'));
  const inventory = join(dir, 'inventory');
  mkdirSync(join(inventory, 'classes'), { recursive: true });
  mkdirSync(join(inventory, 'nodes'));
  mkdirSync(join(dir, 'bin'));
  const token = `K10${randomBytes(32).toString('hex')}::server:${randomBytes(12).toString('hex')}`;
  const nodePassword = `np-${randomBytes(12).toString('hex')}`;
  const hosts: SshHost[] = [];
  const nodes: FleetNodeFixture[] = [];
  const stop = async () => {
    await Promise.all(hosts.map((h) => h.stop().catch(() => {})));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < count; i += 5) {
      hosts.push(...(await startSshHosts(Array.from({ length: Math.min(5, count - i) }, () => ({ prefix: opts.prefix ?? 'mfl', users: [], login: opts.login })))));
    }
    writeFileSync(join(inventory, 'cluster.yaml'), `name: fleet-test\nserverUrl: https://127.0.0.1:6443\ntoken: env:METIS_TEST_TOKEN\n`);
    writeFileSync(join(inventory, 'classes/fleet-test.yaml'), CLASS_YAML);
    hosts.forEach((host, i) => {
      const name = `node-${String(i + 1).padStart(2, '0')}`;
      writeFileSync(
        join(inventory, 'nodes', `${name}.yaml`),
        `hostname: ${name}\nclass: fleet-test\naddress: ${host.addr}/30\nssh:\n  port: ${host.port}\nlabels:\n  metis.io/rack: r${i}\nk3s:\n  nodePassword: env:METIS_TEST_NODE_PASSWORD\n`,
      );
      const root = join(dir, 'roots', name);
      mkdirSync(root, { recursive: true });
      makeSysroot(root);
      mkdirSync(join(root, 'boot/firmware/metis'), { recursive: true });
      const program = join(dir, 'bin', name);
      writeFileSync(program, `#!/bin/sh\nexec node ${BUNDLE} --root ${root} "$@"\n`);
      chmodSync(program, 0o755);
      nodes.push({ name, host, root, program, card: join(root, 'boot/firmware/metis/node.yaml') });
    });
    const sshConfig = join(dir, 'ssh_config');
    writeFileSync(sshConfig, hosts.map((h) => readFileSync(h.sshConfig, 'utf8')).join('\n'));
    const env: NodeJS.ProcessEnv = {
      METIS_SSH_CONFIG: sshConfig,
      METIS_BOOTSTRAP: join(dir, 'bin', '{node}'),
      METIS_TEST_TOKEN: token,
      METIS_TEST_NODE_PASSWORD: nodePassword,
    };
    const burnCard = async (name: string) => {
      const inv = await loadInventory(inventory);
      const m = await nodeManifest(inv, name, secretResolver(inventory, env));
      writeFileSync(nodes.find((n) => n.name === name)!.card, serializeManifest(m));
    };
    const converge = async (name: string, ...args: string[]) => {
      const n = nodes.find((x) => x.name === name)!;
      const r = await execa('node', [BUNDLE, '--root', n.root, ...args], { reject: false, stdin: 'ignore', env: { NODE_EXTRA_CA_CERTS: '' }, timeout: 120_000 });
      return r.exitCode ?? -1;
    };
    const apiAddress = async () => {
      const addr = hosts[0]!.peerAddr;
      for (const h of hosts.slice(1)) await execa('ip', ['-n', h.ns, 'route', 'replace', `${addr}/32`, 'via', h.peerAddr]);
      return addr;
    };
    return { dir, inventory, nodes, env, token, nodePassword, burnCard, converge, apiAddress, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
