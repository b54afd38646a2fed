import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Redactor } from '../../../src/lib/redact.js';
import { identityModule, KEY_TYPES } from '../../../src/bootstrap/modules/identity.js';
import { applyPlanned, convergeLoop, makeContext, tempRoot } from '../../helpers/context.js';

let root: string;
let cleanup: () => void;
beforeEach(() => {
  ({ root, cleanup } = tempRoot('metis-cap-identity-'));
  mkdirSync(join(root, 'etc/ssh'), { recursive: true });
  writeFileSync(join(root, 'etc/machine-id'), ''); // as the class image ships it
});
afterEach(() => cleanup());

const mode = (p: string) => statSync(join(root, p)).mode & 0o777;

/** A real ed25519 host key pair made by ssh-keygen in the test's root. */
function newHostKey(): { priv: string; pub: string } {
  const keyDir = join(root, 'keysrc');
  mkdirSync(keyDir);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'titan-13', '-f', join(keyDir, 'k')]);
  return { priv: readFileSync(join(keyDir, 'k'), 'utf8'), pub: readFileSync(join(keyDir, 'k.pub'), 'utf8').trim() };
}

describe('identity module', () => {
  it('writes machine-id, host keys and node password from the manifest; secrets never in diff or logs', async () => {
    const { priv, pub } = newHostKey();
    const ctx = makeContext({ root });
    const first = await convergeLoop(
      identityModule,
      {
        identity: { machineId: '0f5c2a1e9b7d4c3a8e6f1b2d3c4a5e6f' },
        ssh: { port: 2277, hostKeys: { ed25519: { private: priv, public: pub } } },
        nodePassword: 'node-pass-0001-secret',
      },
      ctx,
    );
    expect(readFileSync(join(root, 'etc/machine-id'), 'utf8')).toBe('0f5c2a1e9b7d4c3a8e6f1b2d3c4a5e6f\n');
    expect(readFileSync(join(root, 'etc/ssh/ssh_host_ed25519_key'), 'utf8')).toBe(priv);
    expect(mode('etc/ssh/ssh_host_ed25519_key')).toBe(0o600);
    expect(mode('etc/ssh/ssh_host_ed25519_key.pub')).toBe(0o644);
    expect(readFileSync(join(root, 'etc/rancher/node/password'), 'utf8')).toBe('node-pass-0001-secret\n');
    expect(mode('etc/rancher/node/password')).toBe(0o600);
    // ecdsa and rsa were not given: generated once, as ssh-keygen -A would
    for (const t of ['ecdsa', 'rsa']) expect(readFileSync(join(root, `etc/ssh/ssh_host_${t}_key.pub`), 'utf8')).toMatch(/^(ecdsa-sha2-nistp256|ssh-rsa) /);
    const shown = JSON.stringify({ reason: first.reason, diff: first.diff }); // plan is module-private, never printed
    expect(shown).not.toContain('node-pass-0001-secret');
    expect(shown).not.toContain(priv.split('\n')[1]!);
    expect(ctx.logs()).not.toContain('node-pass-0001-secret');
  });

  it('escrowed identity (the whole block secret-marked in the manifest): the .pub stays 0644, machine-id 0444, no refusal', async () => {
    // metis replace puts the captured identity in the manifest as secrets, public halves included; the
    // 0600 rule for operator-written files carrying a secret must not refuse the module's own modes.
    const { priv, pub } = newHostKey();
    const machineId = '1f5c2a1e9b7d4c3a8e6f1b2d3c4a5e6f';
    const ctx = makeContext({ root });
    Object.assign(ctx, { redact: new Redactor([priv, pub, machineId, 'node-pass-0002-secret']) });
    await convergeLoop(identityModule, { identity: { machineId }, ssh: { port: 2277, hostKeys: { ed25519: { private: priv, public: pub } } }, nodePassword: 'node-pass-0002-secret' }, ctx);
    expect(readFileSync(join(root, 'etc/ssh/ssh_host_ed25519_key.pub'), 'utf8')).toBe(`${pub}\n`);
    expect(mode('etc/ssh/ssh_host_ed25519_key.pub')).toBe(0o644);
    expect(readFileSync(join(root, 'etc/machine-id'), 'utf8')).toBe(`${machineId}\n`);
    expect(mode('etc/ssh/ssh_host_ed25519_key')).toBe(0o600);
  });

  it('generates machine-id, keys and node password once, and reports fingerprints, not secrets', async () => {
    const ctx = makeContext({ root });
    const a = identityModule.args.parse({ identity: {}, ssh: {}, nodePassword: '' });
    const first = await identityModule.check(a, ctx);
    expect(first.status).toBe('change');
    expect(first.reason).toMatch(/generate machine-id.*ed25519, ecdsa, rsa.*node password/);
    const res = await applyPlanned(identityModule, a, ctx, first);
    const id = readFileSync(join(root, 'etc/machine-id'), 'utf8');
    expect(id).toMatch(/^[0-9a-f]{32}\n$/);
    const pw = readFileSync(join(root, 'etc/rancher/node/password'), 'utf8').trim();
    expect(pw).toMatch(/^[0-9a-f]{32}$/);
    expect(res.facts?.machineId).toBe(id.trim());
    for (const t of KEY_TYPES) expect(String(res.facts?.[`sshHostKey.${t}`])).toMatch(/^\d+ SHA256:\S+ .*\((ED25519|ECDSA|RSA)\)$/);
    expect(res.facts?.nodePassword).toBe('generated (kept in /etc/rancher/node/password)');
    expect(JSON.stringify(res)).not.toContain(pw);
    expect((await identityModule.check(a, ctx)).status).toBe('ok');
    // a second node from the same image gets different values
    const { root: root2, cleanup: c2 } = tempRoot('metis-cap-identity2-');
    try {
      writeFileSync(join(root2, 'etc-placeholder'), '');
      const ctx2 = makeContext({ root: root2 });
      await applyPlanned(identityModule, a, ctx2, await identityModule.check(a, ctx2));
      expect(readFileSync(join(root2, 'etc/machine-id'), 'utf8')).not.toBe(id);
      expect(readFileSync(join(root2, 'etc/ssh/ssh_host_ed25519_key'), 'utf8')).not.toBe(readFileSync(join(root, 'etc/ssh/ssh_host_ed25519_key'), 'utf8'));
    } finally {
      c2();
    }
  });

  it('generateHostKeys false (the early phase): writes machine-id and given keys, generates none, and is then ok', async () => {
    const { priv, pub } = newHostKey();
    const ctx = makeContext({ root });
    const a = identityModule.args.parse({ identity: {}, ssh: { hostKeys: { ed25519: { private: priv, public: pub } } }, generateHostKeys: false });
    const first = await identityModule.check(a, ctx);
    expect(first.status).toBe('change');
    expect(first.reason).not.toMatch(/generate SSH host keys/);
    await applyPlanned(identityModule, a, ctx, first);
    expect(readFileSync(join(root, 'etc/ssh/ssh_host_ed25519_key'), 'utf8')).toBe(priv);
    for (const t of ['ecdsa', 'rsa']) expect(() => statSync(join(root, `etc/ssh/ssh_host_${t}_key`))).toThrow();
    expect((await identityModule.check(a, ctx)).status).toBe('ok');
    // The full run's task (generateHostKeys defaults to true) makes the two missing types.
    const full = identityModule.args.parse({ ssh: { hostKeys: { ed25519: { private: priv, public: pub } } } });
    const later = await identityModule.check(full, ctx);
    expect(later.reason).toBe('generate SSH host keys ecdsa, rsa');
    await applyPlanned(identityModule, full, ctx, later);
    for (const t of ['ecdsa', 'rsa']) expect(mode(`etc/ssh/ssh_host_${t}_key`)).toBe(0o600);
    expect((await identityModule.check(full, ctx)).status).toBe('ok');
  });

  it('treats a changed machine-id as drift and a tampered node password as change', async () => {
    const ctx = makeContext({ root });
    const args = { identity: { machineId: '0f5c2a1e9b7d4c3a8e6f1b2d3c4a5e6f' }, nodePassword: 'node-pass-0001-secret' };
    await convergeLoop(identityModule, args, ctx);
    writeFileSync(join(root, 'etc/machine-id'), 'ffffffffffffffffffffffffffffffff\n');
    writeFileSync(join(root, 'etc/rancher/node/password'), 'other\n');
    const r = await identityModule.check(identityModule.args.parse(args), ctx);
    if (r.status !== 'change') throw new Error(r.status);
    expect(r.diff?.map((d) => d.target)).toEqual(['/etc/machine-id', '/etc/rancher/node/password']);
    expect(JSON.stringify(r.diff)).not.toContain('other');
  });

  it('refuses a malformed machine-id', () => {
    expect(identityModule.args.safeParse({ identity: { machineId: 'xyz' } }).success).toBe(false);
  });
});
