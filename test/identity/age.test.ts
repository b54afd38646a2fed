import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorKeys, seal, unseal } from '../../src/identity/age.js';
import { diffEscrow, type Escrow, readEscrow, writeEscrow } from '../../src/identity/escrow.js';

// The judge is Debian's real age CLI, both directions.
const dir = mkdtempSync(join(tmpdir(), 'metis-age-'));
const keygen = (name: string) => {
  const file = join(dir, name);
  execFileSync('age-keygen', ['-o', file], { stdio: 'ignore' });
  return { file, key: readFileSync(file, 'utf8'), recipient: execFileSync('age-keygen', ['-y', file], { encoding: 'utf8' }).trim() };
};
let op: ReturnType<typeof keygen>;
let other: ReturnType<typeof keygen>;
beforeAll(() => {
  op = keygen('op.txt');
  other = keygen('other.txt');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SECRET = 'node-password-7f3a9c1e2b4d';

describe('age interop with the age CLI', () => {
  it('Metis-sealed opens with age -d -i', async () => {
    const sealed = await seal(SECRET, [op.recipient, other.recipient]);
    expect(sealed).toMatch(/^-----BEGIN AGE ENCRYPTED FILE-----/);
    expect(sealed).not.toContain(SECRET);
    const f = join(dir, 'm.age');
    writeFileSync(f, sealed);
    expect(execFileSync('age', ['-d', '-i', op.file, f], { encoding: 'utf8' })).toBe(SECRET);
    expect(execFileSync('age', ['-d', '-i', other.file, f], { encoding: 'utf8' })).toBe(SECRET);
  });

  it('age-CLI-sealed (armored and binary) opens with Metis', async () => {
    for (const armor of [true, false]) {
      const f = join(dir, `c${armor}.age`);
      execFileSync('age', ['-e', ...(armor ? ['-a'] : []), '-r', op.recipient, '-o', f], { input: SECRET });
      expect(await unseal(f, op.key)).toBe(SECRET);
    }
  });

  it('a wrong key, a corrupted file and a non-age file are told apart, naming the file', async () => {
    const f = join(dir, 'w.age');
    writeFileSync(f, await seal(SECRET, [op.recipient]));
    await expect(unseal(f, other.key)).rejects.toMatchObject({ code: 'E_AGE_WRONG_KEY', message: expect.stringContaining(f) });
    const lines = readFileSync(f, 'utf8').split('\n');
    lines[2] = `${lines[2]!.slice(0, 10)}!!!!${lines[2]!.slice(14)}`;
    writeFileSync(f, lines.join('\n'));
    await expect(unseal(f, op.key)).rejects.toMatchObject({ code: 'E_AGE_CORRUPT', message: expect.stringContaining(f) });
    writeFileSync(f, 'not age at all\n');
    await expect(unseal(f, op.key)).rejects.toMatchObject({ code: 'E_AGE_CORRUPT' });
  });

  it('no recipients is refused', async () => {
    await expect(seal(SECRET, [])).rejects.toMatchObject({ code: 'E_AGE_NO_RECIPIENTS' });
  });
});

describe('operator key discovery (as sops does)', () => {
  it('--age-key, SOPS_AGE_KEY, SOPS_AGE_KEY_FILE and ~/.config/sops/age/keys.txt', async () => {
    const home = join(dir, 'home');
    execFileSync('mkdir', ['-p', join(home, '.config/sops/age')]);
    writeFileSync(join(home, '.config/sops/age/keys.txt'), other.key);
    const viaDefault = await operatorKeys({ HOME: home });
    expect(viaDefault.identities).toContain('AGE-SECRET-KEY-1');
    expect(viaDefault.sources.join()).toMatch(/keys\.txt/);
    const all = await operatorKeys({ HOME: home, SOPS_AGE_KEY: op.key, SOPS_AGE_KEY_FILE: op.file }, op.file);
    expect(all.sources.map((s) => s.split(' ')[0])).toEqual(['--age-key', 'SOPS_AGE_KEY', 'SOPS_AGE_KEY_FILE', 'default']);
    // Sources are named, keys never.
    expect(all.sources.join()).not.toContain('AGE-SECRET-KEY');
  });

  it('none found: says where it looked and what to do', async () => {
    await expect(operatorKeys({ HOME: join(dir, 'nobody') })).rejects.toThrow(/no age key found.*--age-key FILE.*SOPS_AGE_KEY_FILE/);
    await expect(operatorKeys({ HOME: join(dir, 'nobody') }, join(dir, 'missing.txt'))).rejects.toThrow(/cannot read the age key file .*missing\.txt/);
  });
});

describe('escrow file', () => {
  const escrow = (over: Partial<Escrow> = {}): Escrow => ({
    node: 'titan-13',
    capturedAt: '2026-12-01T00:00:00.000Z',
    capturedFrom: 'root@192.168.22.13:2277',
    machineId: '0f5c2a1e9b7d4c3a8e6f1b2d3c4a5e13',
    iscsiInitiatorName: 'iqn.2004-10.com.ubuntu:01:titan-13',
    nodePassword: SECRET,
    hostKeys: { ed25519: { private: '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n', public: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPRmABP4nzXJlm3g1mXswQ5x7CDlV2P3NORfaZwINPlD' } },
    ...over,
  });

  it('is written 0600, opens with the age CLI, and round-trips', async () => {
    const inv = join(dir, 'inv');
    const file = await writeEscrow(inv, escrow(), [op.recipient]);
    expect(file).toBe(join(inv, 'identity', 'titan-13.age'));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).not.toContain(SECRET);
    expect(execFileSync('age', ['-d', '-i', op.file, file], { encoding: 'utf8' })).toContain(`nodePassword: ${SECRET}`);
    expect(await readEscrow(inv, 'titan-13', op.key)).toEqual(escrow());
    expect(await readEscrow(inv, 'titan-99', op.key)).toBeNull();
  });

  it('a re-capture names what changed, a rotated host key as a warning, never a secret', () => {
    expect(diffEscrow(escrow(), escrow())).toEqual([]);
    const rotated = escrow({ nodePassword: 'another-password-123', hostKeys: { ed25519: { private: '-----BEGIN OPENSSH PRIVATE KEY-----\nBBBB\n-----END OPENSSH PRIVATE KEY-----\n', public: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHOcffHnFeN4Q3dpQlbPiCQbRvU9RBwZS1RY2D7a6Cpp' } } });
    const d = diffEscrow(escrow(), rotated);
    expect(d.map((c) => [c.field, c.kind, c.warning])).toEqual([
      ['nodePassword', 'changed', true],
      ['hostKeys.ed25519', 'changed', true],
    ]);
    expect(d.find((c) => c.field === 'hostKeys.ed25519')!.detail).toMatch(/^SHA256:\S+ -> SHA256:\S+$/);
    expect(JSON.stringify(d)).not.toContain(SECRET);
    expect(JSON.stringify(d)).not.toContain('another-password-123');
  });
});
