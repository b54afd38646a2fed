import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretResolver } from '../../../src/burner/inventory/secrets.js';

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
