import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadInventory } from '../../src/inventory/load.js';
import { nodeManifest } from '../../src/inventory/merge.js';
import { secretResolver, sopsExtract } from '../../src/inventory/secrets.js';
import { metis } from '../burner/commands/run.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'metis-burnerA-sec-'));
  await writeFile(join(dir, 'tok'), 'from-file-secret\n');
});
afterAll(async () => rm(dir, { recursive: true, force: true }));
const at = { file: 'cluster.yaml', path: 'token' };

describe('secret sources', () => {
  it.each([
    ['file:tok', 'from-file-secret'],
    ['env:MY_SECRET', 'from-env-secret'],
    ['cmd:printf %s from-cmd-secret', 'from-cmd-secret'],
    // No shell: the ; and $HOME reach printf as literal arguments.
    ['cmd:printf %s; $HOME', '$HOME;'],
  ])('%s', async (src, want) => {
    expect(await secretResolver(dir, { MY_SECRET: 'from-env-secret', PATH: process.env['PATH'] })(src, at)).toBe(want);
  });

  it.each([
    ['file:missing', /cannot read secret file .*missing \(ENOENT\)/],
    ['env:NOPE', /environment variable NOPE is not set/],
    ['cmd:false', /secret command false failed/],
    ['cmd:/nonexistent/metis-cmd', /failed \(ENOENT\)/],
  ])('%s fails naming the field', async (src, re) => {
    await expect(secretResolver(dir, { PATH: process.env['PATH'] })(src, at)).rejects.toThrow(re);
    await expect(secretResolver(dir, { PATH: process.env['PATH'] })(src, at)).rejects.toThrow(/^cluster\.yaml: token: /);
  });

  it('a failing cmd: shows its stderr (why it failed), with anything it printed on stdout masked', async () => {
    const script = join(dir, 'failing.sh');
    await writeFile(script, '#!/bin/sh\necho half-secret-value\necho "vault locked: half-secret-value" >&2\nexit 3\n', { mode: 0o755 });
    const e = await secretResolver(dir, { PATH: process.env['PATH'] })(`cmd:${script}`, at).then(() => null, (x: unknown) => x as Error);
    expect(e?.message).toMatch(/secret command .*failing\.sh failed \(exit 3\):\n {2}vault locked: \[redacted\]/);
    expect(e?.message).not.toContain('half-secret-value');
  });
});

describe('sealed secret sources', () => {
  const key = () => join(dir, 'age-key.txt');
  beforeAll(() => {
    execFileSync('age-keygen', ['-o', key()], { stdio: 'ignore' });
    const r = execFileSync('age-keygen', ['-y', key()], { encoding: 'utf8' }).trim();
    execFileSync('age', ['-e', '-a', '-r', r, '-o', join(dir, 'tok.age')], { input: 'sealed-secret-value\n' });
  });

  it('age:PATH opens with the operator key from SOPS_AGE_KEY_FILE or --age-key (METIS_AGE_KEY_FILE)', async () => {
    expect(await secretResolver(dir, { SOPS_AGE_KEY_FILE: key(), PATH: process.env['PATH'], HOME: dir })('age:tok.age', at)).toBe('sealed-secret-value');
    expect(await secretResolver(dir, { METIS_AGE_KEY_FILE: key(), PATH: process.env['PATH'], HOME: dir })('age:tok.age', at)).toBe('sealed-secret-value');
  });

  it('age: without a key, with a wrong key, or missing: an error naming the field', async () => {
    await expect(secretResolver(dir, { PATH: process.env['PATH'], HOME: dir })('age:tok.age', at)).rejects.toThrow(/^cluster\.yaml: token: no age key found/);
    const wrong = join(dir, 'wrong.txt');
    execFileSync('age-keygen', ['-o', wrong], { stdio: 'ignore' });
    await expect(secretResolver(dir, { SOPS_AGE_KEY_FILE: wrong, PATH: process.env['PATH'], HOME: dir })('age:tok.age', at)).rejects.toThrow(/^cluster\.yaml: token: .*tok\.age: none of the operator's age keys opens it/);
    await expect(secretResolver(dir, { SOPS_AGE_KEY_FILE: key(), PATH: process.env['PATH'], HOME: dir })('age:nope.age', at)).rejects.toThrow(/cannot read sealed file .*nope\.age \(ENOENT\)/);
  });

  it('sops:PATH#key.path: a clear error when sops is not installed', async () => {
    await expect(secretResolver(dir, { PATH: '/nonexistent', METIS_SOPS: '/nonexistent/sops' })('sops:secrets.yaml#k3s.token', at)).rejects.toThrow(
      /^cluster\.yaml: token: the sops binary \(\/nonexistent\/sops\) is not installed; install sops, or seal the value with age and use age:PATH/,
    );
    await expect(secretResolver(dir, { PATH: process.env['PATH'] })('sops:secrets.yaml', at)).rejects.toThrow(/sops: needs PATH#key\.path/);
    expect(sopsExtract('k3s.token')).toBe('["k3s"]["token"]');
    expect(sopsExtract('nodes.0.password')).toBe('["nodes"][0]["password"]');
  });
});

// sops: through metis-sops-standin (test/fixtures/sops-standin: Debian 12 packages no sops), first
// on PATH. It takes only sops's own invocation (--decrypt --extract '["a"]["b"]' FILE, value on
// stdout), opens the data key with the real age CLI (identities on its stdin), finds the age keys where sops finds them, and
// records each call's argv and the NAMES of the key sources it used.
describe('sops:PATH#key.path through the sops stand-in', () => {
  const STANDIN = new URL('../fixtures/sops-standin', import.meta.url).pathname;
  const EXAMPLE = new URL('../../inventory', import.meta.url).pathname;
  const TOKEN = `K10${'ab'.repeat(32)}::server:sops-${randomBytes(8).toString('hex')}`;
  let inv = '';
  let home = '';
  let key = '';
  let wrong = '';
  let log = '';
  let n = 0;
  const calls = async () => (await readFile(log, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { argv: string[]; sources: string[]; exit: number });
  /** A fresh HOME and log per case; the stand-in first on PATH. */
  const envWith = async (extra: NodeJS.ProcessEnv): Promise<NodeJS.ProcessEnv> => {
    home = join(dir, `home-${++n}`);
    await mkdir(home, { recursive: true });
    log = join(dir, `sops-${n}.log`);
    return { PATH: `${STANDIN}:${process.env['PATH']}`, HOME: home, SOPS_STANDIN_LOG: log, ...extra };
  };
  const manifestToken = async (env: NodeJS.ProcessEnv) => (await nodeManifest(await loadInventory(inv), 'titan-13', secretResolver(inv, env))).k3s?.token;

  beforeAll(async () => {
    inv = join(dir, 'inv');
    await cp(EXAMPLE, inv, { recursive: true });
    const cluster = join(inv, 'cluster.yaml');
    await writeFile(cluster, (await readFile(cluster, 'utf8')).replace(/^token: env:METIS_K3S_TOKEN$/m, 'token: sops:secrets/cluster.sops.yaml#k3s.token'));
    key = join(dir, 'sops-key.txt');
    wrong = join(dir, 'sops-wrong.txt');
    execFileSync('age-keygen', ['-o', key], { stdio: 'ignore' });
    execFileSync('age-keygen', ['-o', wrong], { stdio: 'ignore' });
    const plain = join(dir, 'cluster.plain.yaml');
    await writeFile(plain, `k3s:\n  token: "${TOKEN}"\n`, { mode: 0o600 });
    const recipient = execFileSync('age-keygen', ['-y', key], { encoding: 'utf8' }).trim();
    const sealed = execFileSync(join(STANDIN, 'sops'), ['--encrypt', '--age', recipient, plain], { encoding: 'utf8' });
    await rm(plain);
    expect(sealed).not.toContain(TOKEN);
    await writeFile(join(inv, 'secrets/cluster.sops.yaml'), sealed);
  });

  it('the value reaches the manifest; sops is called as sops is called, and no argv carries the secret', async () => {
    expect(await manifestToken(await envWith({ SOPS_AGE_KEY_FILE: key }))).toBe(TOKEN);
    const c = await calls();
    expect(c).toHaveLength(1);
    expect(c[0]!.argv).toEqual(['--decrypt', '--extract', '["k3s"]["token"]', join(inv, 'secrets/cluster.sops.yaml')]);
    expect(c[0]!.exit).toBe(0);
    const secretPart = TOKEN.split('::server:')[1]!;
    for (const a of c[0]!.argv) expect(a.includes(secretPart) || a.includes(TOKEN)).toBe(false);
  });

  it.each([
    ['SOPS_AGE_KEY_FILE', async () => ({ SOPS_AGE_KEY_FILE: key }), /^SOPS_AGE_KEY_FILE=/],
    ['SOPS_AGE_KEY (the key text)', async () => ({ SOPS_AGE_KEY: await readFile(key, 'utf8') }), /^SOPS_AGE_KEY$/],
    ['~/.config/sops/age/keys.txt', async () => ({}), /^default .*\/\.config\/sops\/age\/keys\.txt$/],
    ['--age-key (METIS_AGE_KEY_FILE)', async () => ({ METIS_AGE_KEY_FILE: key }), /^SOPS_AGE_KEY$/],
  ])('the operator key from %s reaches sops', async (_name, extra, source) => {
    const env = await envWith(await extra());
    if (!('SOPS_AGE_KEY_FILE' in env) && !('SOPS_AGE_KEY' in env) && !('METIS_AGE_KEY_FILE' in env)) {
      await mkdir(join(home, '.config/sops/age'), { recursive: true });
      await writeFile(join(home, '.config/sops/age/keys.txt'), await readFile(key, 'utf8'), { mode: 0o600 });
    }
    expect(await manifestToken(env)).toBe(TOKEN);
    const [c] = await calls();
    expect(c!.sources.some((s) => source.test(s)), c!.sources.join(', ')).toBe(true);
    expect(c!.argv.join(' ')).not.toMatch(/AGE-SECRET-KEY/);
  });

  it('--age-key counts even when SOPS_AGE_KEY_FILE names another key (it used to be dropped then)', async () => {
    const env = await envWith({ SOPS_AGE_KEY_FILE: wrong, METIS_AGE_KEY_FILE: key });
    expect(await manifestToken(env)).toBe(TOKEN);
    expect((await calls())[0]!.sources).toEqual([`SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE=${wrong}`]);
    // ...and through the CLI flag itself: `metis manifest --age-key FILE` (the value redacted in print).
    const r = await metis(['manifest', 'titan-13', '--inventory', inv, '--age-key', key], { env: await envWith({ SOPS_AGE_KEY_FILE: wrong }) });
    expect(r.code, r.err).toBe(0);
    expect(r.out + r.err).not.toContain(TOKEN.split('::server:')[1]!);
    expect((await calls())[0]!.sources[0]).toBe('SOPS_AGE_KEY');
  });

  it('errors name the file and the field, never the value: a missing key path, sops failing, no key at all', async () => {
    const sealed = join(inv, 'secrets/cluster.sops.yaml');
    const resolve = async (src: string, env: NodeJS.ProcessEnv) => secretResolver(inv, env)(src, at).then(() => null, (e: Error) => e);
    const missing = await resolve('sops:secrets/cluster.sops.yaml#k3s.nope', await envWith({ SOPS_AGE_KEY_FILE: key }));
    expect(missing?.message).toBe(`cluster.yaml: token: sops could not decrypt k3s.nope from ${sealed}: error truncating tree: component ['nope'] not found`);
    expect((await calls())[0]!.exit).toBe(1);
    const wrongKey = await resolve('sops:secrets/cluster.sops.yaml#k3s.token', await envWith({ SOPS_AGE_KEY_FILE: wrong }));
    expect(wrongKey?.message).toMatch(new RegExp(`^cluster\\.yaml: token: sops could not decrypt k3s\\.token from ${sealed.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: Recovery failed because no master key was able to decrypt the file\\.$`));
    expect((await calls())[0]!.exit).toBe(128);
    const noKey = await resolve('sops:secrets/cluster.sops.yaml#k3s.token', await envWith({}));
    expect(noKey?.message).toMatch(/^cluster\.yaml: token: sops could not decrypt k3s\.token from .*cluster\.sops\.yaml: failed to open file: .*\.config\/sops\/age\/keys\.txt/);
    const badKeyFlag = await resolve('sops:secrets/cluster.sops.yaml#k3s.token', await envWith({ METIS_AGE_KEY_FILE: join(dir, 'no-such-key.txt') }));
    expect(badKeyFlag?.message).toMatch(/^cluster\.yaml: token: cannot read the age key file .*no-such-key\.txt \(--age-key\): ENOENT$/);
    const noFile = await resolve('sops:secrets/gone.yaml#k3s.token', await envWith({ SOPS_AGE_KEY_FILE: key }));
    expect(noFile?.message).toMatch(/^cluster\.yaml: token: sops could not decrypt k3s\.token from .*secrets\/gone\.yaml: Error reading file: ENOENT/);
    for (const e of [missing, wrongKey, noKey, badKeyFlag, noFile]) expect(e?.message).not.toContain(TOKEN.split('::server:')[1]!);
  });
});
