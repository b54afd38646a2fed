import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MetisError, ValidationError } from '../../src/lib/errors.js';
import { loadInventory } from '../../src/inventory/load.js';
import { nodeManifest } from '../../src/inventory/merge.js';
import { secretResolver } from '../../src/inventory/secrets.js';
import { parseManifest, serializeManifest } from '../../src/manifest/load.js';

const EXAMPLE = new URL('../../inventory', import.meta.url).pathname;
export const TOKEN = `K10${'ab'.repeat(32)}::server:burnerA-test-password`;
const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

/** A copy of the example inventory with one file's text edited. */
async function mutated(file: string, edit: (text: string) => string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'metis-burnerA-inv-'));
  dirs.push(dir);
  await cp(EXAMPLE, dir, { recursive: true });
  const p = join(dir, file);
  await writeFile(p, edit(await readFile(p, 'utf8').catch(() => '')));
  return dir;
}

describe('example inventory', () => {
  it('loads every node and merges each into a valid manifest', async () => {
    const inv = await loadInventory(EXAMPLE);
    expect([...inv.nodes.keys()].sort()).toEqual(['atlas-01', 'atlas-02', 'titan-0a', 'titan-13', 'titan-15', 'titan-17', 'titan-19', 'titan-21']);
    // The example's sealed files open with its throwaway demo key.
    const resolve = secretResolver(EXAMPLE, { METIS_K3S_TOKEN: TOKEN, SOPS_AGE_KEY_FILE: join(EXAMPLE, 'demo-age-key.txt'), PATH: process.env['PATH'] });
    for (const h of inv.nodes.keys()) {
      const m = await nodeManifest(inv, h, resolve);
      // Round trip through the file format the card carries.
      expect(parseManifest(serializeManifest(m)).manifest).toEqual(m);
    }
    const t13 = await nodeManifest(inv, 'titan-13', resolve);
    expect(t13.network).toMatchObject({ interface: 'end0', renderer: 'networkd', ipv4: { address: '192.168.22.13/24', gateway: '192.168.22.1' } });
    expect(t13.k3s).toMatchObject({ role: 'agent', version: 'v1.31.5+k3s1', serverUrl: 'https://192.168.22.10:6443', token: TOKEN, nodeIp: '192.168.22.13' });
    expect(t13.mounts.map((m) => m.path)).toEqual(['/mnt/astreae', '/mnt/asteria']);
    expect(t13.ssh.port).toBe(2277);
    const t0a = await nodeManifest(inv, 'titan-0a', resolve);
    expect(t0a.k3s).toMatchObject({ role: 'server', version: 'v1.33.3+k3s1', clusterInit: true });
    expect(t0a.k3s?.serverUrl).toBeUndefined();
    // Every node, from every example class, carries kubelet log rotation and image GC thresholds.
    const gc = ['container-log-max-size=10Mi', 'container-log-max-files=3', 'image-gc-high-threshold=80', 'image-gc-low-threshold=70'];
    for (const h of inv.nodes.keys()) expect((await nodeManifest(inv, h, resolve)).k3s?.kubeletArgs, h).toEqual(expect.arrayContaining(gc));
  });

  it('merges users: cluster, then class, then node; a node entry replaces the same name', async () => {
    const dir = await mutated('nodes/titan-15.yaml', (t) => `${t}users:\n  - { name: ops, uid: 1001, sudo: none, shell: /bin/sh }\n  - { name: ada, uid: 1002 }\n`);
    const cls = join(dir, 'classes/rpi4-longhorn.yaml');
    await writeFile(cls, `${await readFile(cls, 'utf8')}users:\n  - { name: longhorn-admin, groups: [disk] }\n`);
    const inv = await loadInventory(dir);
    const resolve = secretResolver(dir, { METIS_K3S_TOKEN: TOKEN });
    const t13 = await nodeManifest(inv, 'titan-13', resolve);
    expect(t13.users.map((u) => [u.name, u.sudo])).toEqual([['ops', 'nopasswd'], ['longhorn-admin', 'none']]);
    const t15 = await nodeManifest(inv, 'titan-15', resolve);
    expect(t15.users.map((u) => [u.name, u.sudo, u.shell])).toEqual([['ops', 'none', '/bin/sh'], ['longhorn-admin', 'none', '/bin/bash'], ['ada', 'none', '/bin/bash']]);
  });

  it('names the variable when the token source is unset, and never a value', async () => {
    const inv = await loadInventory(EXAMPLE);
    await expect(nodeManifest(inv, 'titan-13', secretResolver(EXAMPLE, {}))).rejects.toThrow(/cluster\.yaml: token: environment variable METIS_K3S_TOKEN is not set/);
  });

  it('refuses a token that is not a K10 secure token, without echoing it', async () => {
    const inv = await loadInventory(EXAMPLE);
    const bad = 'not-a-k10-token-but-long-enough';
    const err = await nodeManifest(inv, 'titan-13', secretResolver(EXAMPLE, { METIS_K3S_TOKEN: bad })).catch((e: Error) => e);
    // Issue 13: blamed on cluster.yaml and its source, not on the node file.
    expect(err).toBeInstanceOf(MetisError);
    expect((err as MetisError).code).toBe('E_SECRET');
    expect((err as MetisError).file).toMatch(/cluster\.yaml$/);
    expect((err as MetisError).path).toBe('token');
    expect((err as Error).message).toMatch(/env:METIS_K3S_TOKEN .*does not start with K10/);
    expect((err as Error).message).not.toContain(bad);
  });
});

// (file, edit, expected file suffix, expected field path, expected line or undefined, message pattern)
const cases: [string, string, (t: string) => string, string, string, number | undefined, RegExp][] = [
  ['unknown key in node', 'nodes/titan-13.yaml', (t) => `${t}colour: blue\n`, 'nodes/titan-13.yaml', 'colour', 24, /unknown key/],
  ['unknown key in class', 'classes/rpi4-longhorn.yaml', (t) => t.replace('arch: arm64', 'arch: arm64\nflavour: x'), 'classes/rpi4-longhorn.yaml', 'flavour', 4, /unknown key/],
  ['unknown key in cluster', 'cluster.yaml', (t) => t.replace('network:', 'netwrok: {}\nnetwork:'), 'cluster.yaml', 'netwrok', 7, /unknown key/],
  ['bad CIDR', 'nodes/titan-15.yaml', (t) => t.replace('192.168.22.15/24', '192.168.22.300/24'), 'nodes/titan-15.yaml', 'address', 4, /CIDR/],
  ['address outside subnet', 'nodes/titan-15.yaml', (t) => t.replace('192.168.22.15/24', '10.0.0.15/24'), 'nodes/titan-15.yaml', 'address', 4, /outside the subnet 192\.168\.22\.0\/24/],
  ['duplicate hostname', 'nodes/titan-19.yaml', (t) => t.replace('hostname: titan-19', 'hostname: titan-17'), 'nodes/titan-19.yaml', 'hostname', 2, /duplicate hostname titan-17/],
  ['duplicate address', 'nodes/titan-19.yaml', (t) => t.replace('192.168.22.19/24', '192.168.22.17/24'), 'nodes/titan-19.yaml', 'address', 4, /duplicate address 192\.168\.22\.17/],
  ['unknown class', 'nodes/titan-21.yaml', (t) => t.replace('rpi5-worker', 'rpi6-worker'), 'nodes/titan-21.yaml', 'class', 3, /unknown class "rpi6-worker"/],
  ['secret inline instead of a source', 'cluster.yaml', (t) => t.replace('env:METIS_K3S_TOKEN', 'K10abc::server:pw'), 'cluster.yaml', 'token', 6, /secret source/],
  ['bad k3s version', 'classes/rpi4-longhorn.yaml', (t) => t.replace('v1.31.5+k3s1', 'v1.31'), 'classes/rpi4-longhorn.yaml', 'k3s.version', 18, /k3s release/],
  ['bad image digest', 'classes/rpi4-longhorn.yaml', (t) => t.replace(/sha256: \w+/, 'sha256: xyz'), 'classes/rpi4-longhorn.yaml', 'image.sha256', 10, /64 hex characters/],
  ['class name differs from file', 'classes/rpi5-worker.yaml', (t) => `name: other\n${t}`, 'classes/rpi5-worker.yaml', 'name', 1, /must match its file name/],
  ['signatures required without a key', 'cluster.yaml', (t) => `${t}signatures:\n  policy: required\n`, 'cluster.yaml', 'signatures.publicKeys', undefined, /policy required needs at least one public key/],
  ['signature key not a PEM public key', 'cluster.yaml', (t) => `${t}signatures:\n  publicKeys:\n    - ssh-ed25519 AAAA\n`, 'cluster.yaml', 'signatures.publicKeys.0', 33, /PEM public key/],
  ['unknown signature policy', 'cluster.yaml', (t) => `${t}signatures:\n  policy: always\n`, 'cluster.yaml', 'signatures.policy', 32, /required|optional/],
  ['bad hostname', 'nodes/atlas-02.yaml', (t) => t.replace('hostname: atlas-02', 'hostname: Atlas_02'), 'nodes/atlas-02.yaml', 'hostname', 2, /./],
  ['bad sudo mode in cluster users', 'cluster.yaml', (t) => t.replace('sudo: nopasswd', 'sudo: always'), 'cluster.yaml', 'users.0.sudo', undefined, /./],
  ['initramfs module list empty', 'classes/amd64-worker.yaml', (t) => t.replace('image:', 'image:\n  initramfs:\n    modules: []'), 'classes/amd64-worker.yaml', 'image.initramfs.modules', undefined, /at least the modules the root filesystem needs/],
  ['initramfs module not a module name', 'classes/amd64-worker.yaml', (t) => t.replace('image:', 'image:\n  initramfs:\n    modules: [virtio_blk, "ext4 -f"]'), 'classes/amd64-worker.yaml', 'image.initramfs.modules.1', undefined, /kernel module name/],
  ['initramfs module listed twice', 'classes/amd64-worker.yaml', (t) => t.replace('image:', 'image:\n  initramfs:\n    modules: [ext4, ext4]'), 'classes/amd64-worker.yaml', 'image.initramfs.modules', undefined, /twice/],
  ['unknown key under image.initramfs', 'classes/amd64-worker.yaml', (t) => t.replace('image:', 'image:\n  initramfs:\n    modules: [ext4]\n    compress: zstd'), 'classes/amd64-worker.yaml', 'image.initramfs.compress', undefined, /unknown key/],
  ['duplicate user in a node file', 'nodes/titan-15.yaml', (t) => `${t}users:\n  - { name: ada }\n  - { name: ada }\n`, 'nodes/titan-15.yaml', 'users.1.name', undefined, /duplicate user name \(also users\.0\.name\)/],
];

describe('inventory validation (table)', () => {
  it.each(cases)('%s', async (_name, file, edit, expFile, expPath, expLine, msg) => {
    const dir = await mutated(file, edit);
    const err = await loadInventory(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    const v = err as ValidationError;
    expect(v.file).toBe(join(dir, expFile));
    expect(v.issues[0]?.path).toBe(expPath);
    if (expLine !== undefined) expect(v.issues[0]?.line).toBe(expLine);
    expect(v.issues[0]?.message).toMatch(msg);
    expect(v.message).toContain(`${expFile}:`);
  });
});
