import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exampleManifestText, tempRoot } from '../helpers/context.js';
import { debianNode18 } from './debian-debs.js';
import { makeSysroot } from './sysroot.js';
import { BUNDLE, bundleNodeFlags, ensureBundle } from './bundle.js';

// The bundle must run on Debian 12's nodejs 18.20: run it with that very node, unpacked from the .debs.
const node18 = debianNode18();
if ('skip' in node18) console.warn(`skip: node 18 run: ${node18.skip}`);

describe.skipIf('skip' in node18)("bundle on Debian 12's node 18", () => {
  const { root, cleanup } = tempRoot('metis-node18-');
  const node = (args: string[], extraEnv: Record<string, string> = {}) => {
    const n = node18 as Exclude<typeof node18, { skip: string }>;
    const [cmd, ...argv] = n.argv(args);
    const r = spawnSync(cmd!, argv, { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...n.env, NODE_EXTRA_CA_CERTS: '', CACHE_DIRECTORY: '', ...extraEnv } });
    return { code: r.status, out: r.stdout + r.stderr, err: r.stderr };
  };
  // Every run as systemd and a shell start it: through the shebang, with its node flags.
  let flags: string[] = [];
  const run = (args: string[], extraEnv: Record<string, string> = {}) => node([...flags, BUNDLE, ...args], extraEnv);
  beforeAll(() => {
    ensureBundle();
    flags = bundleNodeFlags();
    makeSysroot(root);
    writeFileSync(join(root, 'node.yaml'), exampleManifestText);
  });
  afterAll(() => cleanup());

  it('is node 18', () => {
    expect(node(['-e', 'process.stdout.write(process.version)']).out).toMatch(/^v18\.20\./);
  });

  it("runs with the shebang's node flags (systemd and a shell start it through the shebang)", () => {
    expect(flags).toContain('--jitless');
    const r = run(['--version']);
    // No V8 warning about conflicting flags (journald and `--json` readers get only Metis's output).
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^metis-bootstrap \d/);
    expect(r.code).toBe(0);
  });

  it('node 18 accepts the code cache it wrote (the second run does not rewrite it)', () => {
    const cache = join(root, 'v8cache');
    mkdirSync(cache, { recursive: true });
    const args = ['--root', root, '--manifest', join(root, 'node.yaml'), '--check'];
    const volatile = /"time":\d+|"durationMs":[\d.]+|"(load|facts|plan|apply|handlers|report|process|engine)Ms":[\d.]+|"codeCache":"\w+"/g;
    const first = run(args, { CACHE_DIRECTORY: cache });
    expect(first.code, first.out).toBe(2);
    const [file] = readdirSync(cache);
    expect(file).toMatch(/-v18\.20\.\d+-x64\.v8$/);
    const ino = statSync(join(cache, file!)).ino;
    const second = run(args, { CACHE_DIRECTORY: cache });
    expect(second.code, second.out).toBe(2);
    expect(second.out.replace(volatile, '')).toBe(first.out.replace(volatile, ''));
    // The start event says what became of the cache: absent (written at exit), then used.
    expect(first.out).toContain('"codeCache":"absent"');
    expect(second.out).toContain('"codeCache":"used"');
    expect(statSync(join(cache, file!)).ino).toBe(ino);
    // Compiled code only: nothing of the run's data (the manifest's secrets, its hostname).
    const bytes = readFileSync(join(cache, file!));
    for (const v of [/token: (\S+)/, /nodePassword: (\S+)/, /hostname: (\S+)/].map((re) => re.exec(exampleManifestText)![1]!)) expect(bytes.includes(v), v).toBe(false);
  });

  it("an early-phase run loads no HTTPS/TLS (node compiles each of its own modules at load: the report's client waits for the full run)", () => {
    const preload = join(root, 'loaded.cjs');
    // The early phase's one notifying task (the iSCSI initiator name) as a reboot finds it: a plain
    // --tags early run checks the handler it notifies ("restart iscsid", a systemctl spawn) at its
    // end, while the boot run leaves it to its full run (test/bootstrap/engine/run.test.ts).
    writeFileSync(join(root, 'etc/iscsi/initiatorname.iscsi'), 'InitiatorName=iqn.2004-10.com.ubuntu:01:titan-13\n');
    chmodSync(join(root, 'etc/iscsi/initiatorname.iscsi'), 0o600);
    writeFileSync(preload, "process.on('exit', () => require('fs').writeSync(2, 'LOADED ' + process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13)).join(' ') + '\\n'));\n");
    const r = node([...flags, '-r', preload, BUNDLE, '--root', root, '--manifest', join(root, 'node.yaml'), '--check', '--tags', 'early']);
    expect(r.code, r.out).toBe(2);
    const loaded = /LOADED (.*)/.exec(r.out)![1]!.split(' ');
    expect(loaded).toContain('child_process');
    for (const m of ['https', 'tls', '_http_client']) expect(loaded).not.toContain(m);
    // execa (with node's tty, v8 and timers/promises) waits for the first spawn: a no-op early phase has none.
    for (const m of ['tty', 'v8', 'timers/promises']) expect(loaded).not.toContain(m);
  });

  it('the engine has no dynamic import(): it runs compiled through vm.Script, where import() has no loader', () => {
    expect(readFileSync(BUNDLE, 'utf8').match(/\bimport\(.{0,40}/g) ?? []).toEqual([]);
  });

  it('--version', () => {
    const r = run(['--version']);
    expect(r.out).toMatch(/^metis-bootstrap \d/);
    expect(r.code).toBe(0);
  });

  it('--check, apply and a converged re-run of a sysroot', () => {
    const args = ['--root', root, '--manifest', join(root, 'node.yaml')];
    const check = run([...args, '--check']);
    expect(check.code, check.out).toBe(2);
    expect(run(args).code).toBe(2);
    const again = run(args);
    expect(again.code, again.out).toBe(0);
    expect(again.out).toMatch(/ok=\d+ changed=0 failed=0/);
  });
});
