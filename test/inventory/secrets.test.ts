import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { secretResolver, sopsExtract } from '../../src/inventory/secrets.js';

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
