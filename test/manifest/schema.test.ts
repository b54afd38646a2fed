import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseManifest, serializeManifest } from '../../src/manifest/load.js';
import { SchemaVersionError, ValidationError } from '../../src/lib/errors.js';

const example = readFileSync(new URL('../../examples/node.yaml', import.meta.url), 'utf8');

function mutate(from: string | RegExp, to: string): string {
  const out = example.replace(from, to);
  if (out === example) throw new Error(`fixture edit did not apply: ${String(from)}`);
  return out;
}

describe('manifest schema', () => {
  it('accepts the example and fills defaults', () => {
    const { manifest, secrets, hash } = parseManifest(example, 'examples/node.yaml');
    expect(manifest.node.hostname).toBe('titan-13');
    expect(manifest.ssh.port).toBe(2277);
    expect(manifest.mounts[0]!.deviceTimeoutSec).toBe(10);
    expect(manifest.k3s!.kubeletArgs).toEqual(expect.arrayContaining(['container-log-max-size=10Mi', 'container-log-max-files=3', 'image-gc-high-threshold=80', 'image-gc-low-threshold=70']));
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(secrets.map((s) => s.path).sort()).toEqual(['k3s.nodePassword', 'k3s.token']);
  });

  it('round-trips through serializeManifest', () => {
    const { manifest } = parseManifest(example);
    expect(parseManifest(serializeManifest(manifest)).manifest).toEqual(manifest);
  });

  // (edit of the example, expected error path, expected line, message fragment)
  const cases: Array<[string, string | RegExp, string, string, number | undefined, string]> = [
    ['bad hostname', 'hostname: titan-13', 'hostname: Titan_13', 'node.hostname', 5, 'RFC 1123'],
    ['prefix > 32', 'address: 192.168.22.13/24', 'address: 192.168.22.13/33', 'network.ipv4.address', 12, 'CIDR'],
    ['gateway outside subnet', 'gateway: 192.168.22.1', 'gateway: 10.0.0.1', 'network.ipv4.gateway', 13, 'outside the subnet'],
    ['wrong type', '  port: 2277', '  port: "2277"', 'ssh.port', 17, 'number'],
    ['unknown key', '  arch: arm64', '  arch: arm64\n  colour: red', 'node.colour', 8, 'unknown key'],
    ['bad UUID', 'uuid: 3a1f0c2e-5b7d-4e8f-9a10-b2c3d4e5f601', 'uuid: not-a-uuid', 'mounts.0.uuid', 25, 'UUID'],
    ['relative mount path', 'path: /mnt/astreae', 'path: mnt/astreae', 'mounts.0.path', 26, 'absolute'],
    ['token not K10', /token: K10\S+/, 'token: x10notatokenatall000', 'k3s.token', 40, 'K10'],
    ['bad label key', 'metis.io/class: rpi4-longhorn', '"-bad/key": rpi4-longhorn', 'k3s.labels.-bad/key', 44, 'label key'],
    ['bad taint effect', 'taints: []', 'taints: ["dedicated=storage:Sometimes"]', 'k3s.taints.0', 45, 'taint'],
    ['bad k3s version', 'version: v1.31.5+k3s1', 'version: v1.31', 'k3s.version', 37, 'k3s release'],
    ['agent without server', /  serverUrl: .*\n/, '', 'k3s.serverUrl', undefined, 'needs serverUrl'],
    ['machine-id uppercase', 'machineId: 0f5c2a1e9b7d4c3a8e6f1b2d3c4a5e6f', 'machineId: 0F5C2A1E9B7D4C3A8E6F1B2D3C4A5E6F', 'identity.machineId', 52, '32 lowercase hex'],
    ['joining server with clusterInit', /  role: agent\n/, '  role: server\n  clusterInit: true\n', 'k3s.clusterInit', 37, 'must not set clusterInit'],
    ['agent with clusterInit', /  role: agent\n/, '  role: agent\n  clusterInit: true\n', 'k3s.clusterInit', 37, 'not an agent'],
    ['user root', '  - name: ops', '  - name: root', 'users.0.name', 56, 'ssh.authorizedKeys'],
    ['user uid below 1000', 'uid: 1001', 'uid: 999', 'users.0.uid', 57, '1000-59999'],
    ['bad user shell', 'shell: /bin/bash', 'shell: bash', 'users.0.shell', 59, 'absolute'],
    ['bad sudo mode', 'sudo: nopasswd', 'sudo: always', 'users.0.sudo', 60, ''],
    ['sudo password with a locked password', 'sudo: nopasswd', 'sudo: password', 'users.0.sudo', 60, 'lockPassword: false'],
    ['group sudo without sudo', /groups: \[adm\]\n(.*\n)*.*sudo: nopasswd/, 'groups: [adm, sudo]\n    shell: /bin/bash\n    sudo: none', 'users.0.groups.1', undefined, '%sudo'],
    ['bad user key', /(authorizedKeys:\n *- )ssh-ed25519 AAAA[^\n]*\n$/, '$1not-a-key\n', 'users.0.authorizedKeys.0', undefined, 'OpenSSH public key'],
    ['duplicate user', /(users:\n)/, '$1  - { name: ops }\n', 'users.1.name', undefined, 'duplicate user name (also users.0.name)'],
    ['duplicate uid', /(users:\n)/, '$1  - { name: ada, uid: 1001 }\n', 'users.1.uid', undefined, 'duplicate uid (also users.0.uid)'],
    ['bad Longhorn disk UUID', '    fstype: ext4\n    options: [defaults, noatime]\n  - uuid: 7c9e', '    fstype: ext4\n    options: [defaults, noatime]\n    longhornDiskUuid: NOT-A-UUID\n  - uuid: 7c9e', 'mounts.0.longhornDiskUuid', 29, 'lowercase UUID'],
    ['missing ipv4', /  ipv4:\n.*\n.*\n/, '', 'network.ipv4', undefined, ''],
  ];

  it.each(cases)('%s → error at the field', (_name, from, to, path, line, fragment) => {
    let err: unknown;
    try {
      parseManifest(mutate(from, to), 'node.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    const issue = (err as ValidationError).issues.find((i) => i.path === path);
    expect(issue, `issues: ${JSON.stringify((err as ValidationError).issues)}`).toBeDefined();
    expect(issue!.message).toContain(fragment);
    if (line !== undefined) expect(issue!.line).toBe(line);
    expect((err as Error).message).toContain('node.yaml');
  });

  it('refuses a newer schemaVersion, naming the versions it reads', () => {
    expect(() => parseManifest(mutate('schemaVersion: 1', 'schemaVersion: 7'), 'node.yaml')).toThrow(SchemaVersionError);
    expect(() => parseManifest(mutate('schemaVersion: 1', 'schemaVersion: 7'), 'node.yaml')).toThrow(/reads schemaVersion 1/);
  });

  it('names the line of a YAML syntax error', () => {
    try {
      parseManifest('schemaVersion: 1\nnode: [unclosed\n', 'bad.yaml');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ValidationError);
      expect((e as ValidationError).issues[0]!.line).toBeGreaterThan(0);
    }
  });

  it('refuses duplicate keys', () => {
    expect(() => parseManifest(mutate('  arch: arm64', '  arch: arm64\n  arch: amd64'), 'node.yaml')).toThrow(ValidationError);
  });
});
