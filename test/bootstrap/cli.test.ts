import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exampleManifestText, tempRoot } from '../helpers/context.js';
import { hashTree, makeSysroot } from './sysroot.js';
import { BUNDLE, ensureBundle } from './bundle.js';

// The "done when", run against the built bundle as the node runs it.
const STATE = 'var/lib/metis';
const TOKEN = /token: (\S+)/.exec(exampleManifestText)![1]!;
const NODE_PASSWORD = /nodePassword: (\S+)/.exec(exampleManifestText)![1]!;

beforeAll(() => {
  ensureBundle();
});

function bootstrap(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('node', [BUNDLE, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NODE_EXTRA_CA_CERTS: '' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('metis-bootstrap bundle against a sysroot', () => {
  const { root, cleanup } = tempRoot('metis-cli-');
  const manifest = join(root, '..', `${root.split('/').pop()}-node.yaml`);
  const outputs: string[] = [];
  const run = (...extra: string[]) => {
    const r = bootstrap(['--root', root, '--manifest', manifest, ...extra]);
    outputs.push(r.stdout, r.stderr);
    return r;
  };
  beforeAll(() => {
    makeSysroot(root);
    writeFileSync(manifest, exampleManifestText);
  });
  afterAll(() => {
    cleanup();
    writeFileSync(manifest, '');
    execFileSync('rm', ['-f', manifest]);
  });

  it('converges (exit 2), then a second run is exit 0 with changed=0', () => {
    const first = run();
    expect(first.code, first.stderr + first.stdout).toBe(2);
    expect(readFileSync(join(root, 'etc/hostname'), 'utf8')).toBe('titan-13\n');
    expect(readFileSync(join(root, 'etc/ssh/sshd_config.d/60-metis.conf'), 'utf8')).toContain('Port 2277');
    const second = run();
    expect(second.code, second.stdout).toBe(0);
    const lines = second.stdout.trim().split('\n');
    expect(JSON.parse(lines[lines.length - 1]!).msg).toMatch(/^ok=\d+ changed=0 failed=0 skipped=\d+$/);
    for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
  });

  it('a mutated managed file: --check exits 2 naming it and changes nothing; apply fixes it', () => {
    writeFileSync(join(root, 'etc/systemd/journald.conf.d/60-metis.conf'), '[Journal]\nStorage=volatile\n');
    const before = hashTree(root, [STATE]);
    const check = run('--check', '--json', '--diff');
    expect(check.code).toBe(2);
    const report = JSON.parse(check.stdout);
    expect(report.mode).toBe('check');
    const drift = report.tasks.filter((t: { status: string }) => t.status === 'changed');
    expect(drift.map((t: { name: string }) => t.name)).toContain('journald limits drop-in');
    expect(JSON.stringify(drift)).toContain('/etc/systemd/journald.conf.d/60-metis.conf');
    expect(check.stderr).toContain('-Storage=volatile');
    expect(check.stderr).toContain('+Storage=persistent');
    expect(hashTree(root, [STATE])).toEqual(before);
    expect(JSON.parse(readFileSync(join(root, STATE, 'last-run.json'), 'utf8')).mode).toBe('check');

    expect(run().code).toBe(2);
    expect(readFileSync(join(root, 'etc/systemd/journald.conf.d/60-metis.conf'), 'utf8')).toContain('Storage=persistent');
    expect(run('--check').code).toBe(0);
  });

  it('--tags early runs only the early tasks', () => {
    writeFileSync(join(root, 'etc/hostname'), 'debian\n');
    const r = run('--tags', 'early', '--json');
    expect(r.code).toBe(2);
    const names = JSON.parse(r.stdout).tasks.map((t: { name: string }) => t.name);
    expect(names).toContain('hostname');
    expect(names).not.toContain('journald limits drop-in');
  });

  it('no secret appears in any output, report, history or diff', () => {
    run('--check', '--diff', '--json');
    run('--diff');
    const state = readdirSync(join(root, STATE, 'runs')).map((f) => readFileSync(join(root, STATE, 'runs', f), 'utf8'));
    const all = [...outputs, readFileSync(join(root, STATE, 'last-run.json'), 'utf8'), ...state].join('\n');
    expect(all.length).toBeGreaterThan(1000);
    expect(all.split(TOKEN).length - 1).toBe(0);
    expect(all.split(NODE_PASSWORD).length - 1).toBe(0);
  });
});

describe('the early phase on a first boot: identity before the network, host keys left to the boot', () => {
  const { root, cleanup } = tempRoot('metis-cli-early-');
  const manifest = join(root, '..', `${root.split('/').pop()}-node.yaml`);
  beforeAll(() => {
    makeSysroot(root);
    writeFileSync(manifest, exampleManifestText);
  });
  afterAll(() => {
    cleanup();
    execFileSync('rm', ['-f', manifest]);
  });
  const keys = () => ['ed25519', 'ecdsa', 'rsa'].filter((t) => existsSync(join(root, `etc/ssh/ssh_host_${t}_key`)));

  it('writes machine-id, hostname and the iSCSI initiator name but generates no SSH host key; the full run generates them', () => {
    const early = bootstrap(['--root', root, '--manifest', manifest, '--tags', 'early', '--json']);
    expect(early.code, early.stderr).toBe(2);
    const tasks = JSON.parse(early.stdout).tasks as { name: string; status: string }[];
    expect(tasks.find((t) => t.name === 'iSCSI initiator name')?.status).toBe('changed');
    expect(tasks.map((t) => t.name)).not.toContain('SSH host keys the manifest does not give (generated once)');
    expect(readFileSync(join(root, 'etc/iscsi/initiatorname.iscsi'), 'utf8')).toBe('InitiatorName=iqn.2004-10.com.ubuntu:01:titan-13\n');
    expect(readFileSync(join(root, 'etc/machine-id'), 'utf8')).toBe('0f5c2a1e9b7d4c3a8e6f1b2d3c4a5e6f\n');
    expect(readFileSync(join(root, 'etc/hostname'), 'utf8')).toBe('titan-13\n');
    // RSA's prime search is not on the boot's critical path (metis-ssh-hostkeys.service, beside it).
    expect(keys()).toEqual([]);
    // Not live: "restart iscsid", notified by the name, has no running iscsid to act on.
    const full = bootstrap(['--root', root, '--manifest', manifest, '--json']);
    expect(full.code, full.stderr).toBe(2);
    const fullTasks = JSON.parse(full.stdout).tasks as { name: string; status: string }[];
    expect(fullTasks.find((t) => t.name === 'SSH host keys the manifest does not give (generated once)')?.status).toBe('changed');
    expect(fullTasks.find((t) => t.name === 'iSCSI initiator name')?.status).toBe('ok');
    expect(keys()).toEqual(['ed25519', 'ecdsa', 'rsa']);
  });
});

describe('metis-bootstrap refuses bad input with exit 1, naming it, changing nothing', () => {
  const { root, cleanup } = tempRoot('metis-cli-bad-');
  beforeAll(() => makeSysroot(root));
  afterAll(() => cleanup());

  it.each([
    ['wrong type', (t: string) => t.replace('port: 2277', 'port: twenty'), 'ssh.port'],
    ['unknown key', (t: string) => t.replace('  arch: arm64', '  arch: arm64\n  colour: blue'), 'node.colour'],
    ['bad hostname', (t: string) => t.replace('hostname: titan-13', 'hostname: Titan_13'), 'node.hostname'],
    ['bad CIDR', (t: string) => t.replace('192.168.22.13/24', '192.168.22.13/33'), 'network.ipv4.address'],
    ['newer schemaVersion', (t: string) => t.replace('schemaVersion: 1', 'schemaVersion: 99'), 'schemaVersion 99 is not supported'],
  ])('%s', (_l, mutate, field) => {
    const manifest = join(root, 'boot/firmware/metis/node.yaml');
    execFileSync('mkdir', ['-p', join(root, 'boot/firmware/metis')]);
    writeFileSync(manifest, mutate(exampleManifestText));
    const before = hashTree(root);
    const r = bootstrap(['--root', root]);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain(field);
    expect(r.stdout + r.stderr).toContain('node.yaml');
    expect(hashTree(root)).toEqual(before);
    expect((r.stdout + r.stderr).includes(TOKEN)).toBe(false);
  });

  it.each([[['--bogus']], [['--root']], [['extra-positional']], [['--tags', '']]])('flags %j', (args) => {
    const r = bootstrap(args);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/metis-bootstrap: /);
  });

  it('no manifest found → exit 1 listing where it looked', () => {
    const { root: empty, cleanup: c } = tempRoot('metis-cli-empty-');
    try {
      const r = bootstrap(['--root', empty]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain('boot/firmware/metis/node.yaml');
    } finally {
      c();
    }
  });

  it('--version and --help', () => {
    expect(bootstrap(['--version']).stdout).toMatch(/^metis-bootstrap \d+\.\d+\.\d+\n$/);
    const help = bootstrap(['--help']);
    expect(help.code).toBe(0);
    for (const flag of ['--check', '--diff', '--json', '--manifest', '--root', '--state-dir', '--tags']) expect(help.stdout).toContain(flag);
  });
});

describe('metis-bootstrap --boot (the boot unit: both phases, one process)', () => {
  const { root, cleanup } = tempRoot('metis-cli-boot-');
  afterAll(() => cleanup());

  it('runs the early tasks, then every task; a second boot run is exit 0; nothing secret in its output', () => {
    makeSysroot(root);
    const manifest = join(root, 'etc/metis-test-node.yaml');
    writeFileSync(manifest, exampleManifestText);
    const runs = () => readdirSync(join(root, STATE, 'runs')).length;
    const first = bootstrap(['--root', root, '--manifest', manifest, '--boot']);
    expect(first.code, first.stderr + first.stdout).toBe(2);
    const events = first.stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind?: string; tags?: string[]; msg: string; waitedMs?: number; notifyMs?: number; phases?: Record<string, number> });
    const starts = events.filter((e) => e.kind === 'start');
    expect(starts.map((e) => e.tags ?? null)).toEqual([['early'], null]);
    const wait = events.find((e) => e.kind === 'boot-wait');
    expect(wait?.msg).toMatch(/not a live system: no wait after \d+\.\d s; full converge/);
    expect(wait?.notifyMs).toEqual(expect.any(Number));
    // The full run's phases end with the report onto the Node (skipped here: k3s never ran); the early run sends none.
    const recaps = events.filter((e) => e.kind === 'recap');
    expect(recaps[1]?.phases?.reportMs).toEqual(expect.any(Number));
    expect(recaps[0]?.phases?.reportMs).toBeUndefined();
    // The wait lies between the two runs.
    expect(events.indexOf(wait!)).toBeGreaterThan(events.indexOf(starts[0]!));
    expect(events.indexOf(wait!)).toBeLessThan(events.indexOf(starts[1]!));
    expect(events.filter((e) => e.kind === 'recap')).toHaveLength(2);
    expect(readFileSync(join(root, 'etc/hostname'), 'utf8')).toBe('titan-13\n');
    expect(runs()).toBe(2);
    // The full run's report records the wait between the phases.
    expect(JSON.parse(readFileSync(join(root, STATE, 'last-run.json'), 'utf8')).bootWait).toEqual({ target: 'metis-online.target', waitedMs: expect.any(Number), ok: true });
    const second = bootstrap(['--root', root, '--manifest', manifest, '--boot']);
    expect(second.code, second.stdout).toBe(0);
    expect(runs()).toBe(4);
    for (const out of [first.stdout, first.stderr, second.stdout, second.stderr]) {
      expect(out).not.toContain(TOKEN);
      expect(out).not.toContain(NODE_PASSWORD);
    }
  });
});
