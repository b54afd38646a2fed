import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { installManifest } from '../../src/bootstrap/manifest-install.js';
import { SCRUBBED, SECRETS_FILE } from '../../src/bootstrap/secret-store.js';
import { exampleManifestText, tempRoot } from '../helpers/context.js';
import { BUNDLE, ensureBundle } from './bundle.js';
import { makeSysroot } from './sysroot.js';

// --install-manifest: the node side of `metis push`, against a sysroot's card.
const TOKEN = /token: (\S+)/.exec(exampleManifestText)![1]!;
const NODE_PASSWORD = /nodePassword: (\S+)/.exec(exampleManifestText)![1]!;
let root: string;
let cleanup: () => void;
let card: string;
const state = () => join(root, 'var/lib/metis');
const labelled = exampleManifestText.replace(/labels:\n/, 'labels:\n    metis.io/pushed: "yes"\n');

beforeAll(() => {
  ensureBundle();
});
beforeEach(() => {
  ({ root, cleanup } = tempRoot('metis-install-'));
  mkdirSync(join(root, 'boot/firmware/metis'), { recursive: true });
  card = join(root, 'boot/firmware/metis/node.yaml');
  writeFileSync(card, exampleManifestText);
});
afterEach(() => cleanup());

describe('installManifest', () => {
  it('check mode: the diff (secrets redacted), nothing written', async () => {
    expect(labelled).not.toBe(exampleManifestText);
    const r = await installManifest(labelled, { root, stateDir: state(), check: true });
    expect(r).toMatchObject({ path: card, hostname: 'titan-13', changed: true, written: false });
    expect(r.diff).toEqual(['+    metis.io/pushed: yes']);
    expect(r.before).not.toBe(r.after);
    expect(readFileSync(card, 'utf8')).toBe(exampleManifestText);
  });

  it('writes atomically beside the card (no temp left); a secret already scrubbed goes back as the marker', async () => {
    writeFileSync(card, exampleManifestText.replace(TOKEN, SCRUBBED));
    mkdirSync(state(), { recursive: true });
    writeFileSync(join(state(), SECRETS_FILE), JSON.stringify({ 'k3s.token': TOKEN }));
    const r = await installManifest(labelled, { root, stateDir: state(), check: false });
    expect(r.written).toBe(true);
    const text = readFileSync(card, 'utf8');
    expect(text).toContain('metis.io/pushed: yes');
    expect(text).toContain(`token: ${SCRUBBED}`);
    expect(text).not.toContain(TOKEN);
    expect(text).toContain(NODE_PASSWORD); // not scrubbed yet on this card: the converge scrubs it
    expect(readdirSync(join(root, 'boot/firmware/metis'))).toEqual(['node.yaml']);
    expect(JSON.stringify(r)).not.toContain(TOKEN);
    // Same again: nothing to write.
    expect((await installManifest(labelled, { root, stateDir: state(), check: false })).changed).toBe(false);
  });

  it('refuses, writing nothing: another hostname, an invalid manifest, a newer schemaVersion', async () => {
    const other = exampleManifestText.replace(/hostname: titan-13/, 'hostname: titan-15');
    await expect(installManifest(other, { root, stateDir: state(), check: false })).rejects.toMatchObject({ code: 'E_WRONG_NODE' });
    await expect(installManifest(exampleManifestText.replace(/systemMaxUse: \S+/, 'systemMaxUse: lots'), { root, stateDir: state(), check: false })).rejects.toMatchObject({ code: 'E_VALIDATION', path: 'journald.systemMaxUse' });
    await expect(installManifest(exampleManifestText.replace(/^schemaVersion: 1$/m, 'schemaVersion: 2'), { root, stateDir: state(), check: false })).rejects.toMatchObject({ code: 'E_SCHEMA_VERSION' });
    expect(readFileSync(card, 'utf8')).toBe(exampleManifestText);
    expect(readdirSync(join(root, 'boot/firmware/metis'))).toEqual(['node.yaml']);
  });
});

describe('metis-bootstrap --install-manifest - (the bundle, manifest on stdin)', () => {
  const boot = (args: string[], input: string) => spawnSync('node', [BUNDLE, '--root', root, ...args], { input, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NODE_EXTRA_CA_CERTS: '' } });

  it('--check --json: diff and a check against the new manifest; then install + converge', () => {
    makeSysroot(root);
    expect([0, 2]).toContain(boot([], '').status); // first converge from the card (stdin unused)
    const check = boot(['--install-manifest', '-', '--check', '--json'], labelled);
    const c = JSON.parse(check.stdout);
    expect(c.install).toMatchObject({ changed: true, written: false, diff: ['+    metis.io/pushed: yes'] });
    expect(c.report.mode).toBe('check');
    expect(check.status).toBe(2);
    expect(readFileSync(card, 'utf8')).not.toContain('metis.io/pushed');
    expect(readdirSync(state()).filter((f) => f.startsWith('.proposed'))).toEqual([]);

    const apply = boot(['--install-manifest', '-', '--json'], labelled);
    const a = JSON.parse(apply.stdout);
    expect(a.install.written).toBe(true);
    expect(a.report).toMatchObject({ mode: 'apply', summary: { failed: 0 } });
    expect(readFileSync(join(root, 'etc/rancher/k3s/config.yaml'), 'utf8')).toContain('metis.io/pushed=yes');
    // The converge scrubbed the card again.
    expect(readFileSync(card, 'utf8')).not.toContain(TOKEN);
    for (const out of [check.stdout, check.stderr, apply.stdout, apply.stderr]) {
      expect(out).not.toContain(TOKEN);
      expect(out).not.toContain(NODE_PASSWORD);
    }
    const bad = boot(['--install-manifest', '-', '--json'], 'schemaVersion: 1\nnode: {}\n');
    expect(bad.status).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ errorCode: 'E_VALIDATION' });
  }, 240_000);
});
