import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { makeDemoImage } from '../src/demo/image.js';

// Issue 13: the README's commands must work on a fresh machine, and dist/metis.js is the one file
// an operator copies to a flashing host.
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const scratch = mkdtempSync(join(tmpdir(), 'metis-release-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('metis on a fresh machine', () => {
  it('npm ci builds the bundles (prepare), so `npx metis` runs the project bin', () => {
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { scripts: Record<string, string>; bin: Record<string, string> };
    expect(pkg.scripts['prepare']).toMatch(/scripts\/build\.mjs/);
    expect(pkg.bin['metis']).toBe('dist/metis.js');
    const r = spawnSync('npm', ['exec', '--offline', '--', 'metis', 'help', 'burn'], { cwd: repo, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/usage: metis burn NODE/);
  });

  it('every metis command in the README is written the way it runs after the set-up (npx metis …)', () => {
    const readme = readFileSync(join(repo, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const lines = blocks.flatMap((b) => b.split('\n')).map((l) => l.trim()).filter((l) => /^(sudo )?metis\b/.test(l));
    expect(lines).toEqual([]);
    expect(blocks.join('\n')).toMatch(/npx metis burn/);
  });

  it('dist/metis.js alone (copied, no node_modules, no package.json) burns a card image', async () => {
    const host = join(scratch, 'flashing-host');
    execFileSync('mkdir', ['-p', host]);
    const bin = join(host, 'metis');
    copyFileSync(join(repo, 'dist/metis.js'), bin);
    const img = join(scratch, 'class.img');
    await makeDemoImage(img, scratch, { fat: 'own' });
    const env = { PATH: process.env['PATH'], HOME: scratch, METIS_K3S_TOKEN: `K10${'ef'.repeat(32)}::server:release-test-pw` };
    const v = spawnSync(process.execPath, [bin, '--version'], { cwd: host, encoding: 'utf8', env });
    expect(v.stdout).toMatch(/^metis \d+\.\d+\.\d+/);
    const card = join(scratch, 'card.img');
    const r = spawnSync(process.execPath, [bin, 'burn', 'titan-13', '--to', card, '--image', img, '--inventory', join(repo, 'inventory'), '--cache', join(scratch, 'cache'), '--yes'], { cwd: host, encoding: 'utf8', env, timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/burned titan-13 .* verified/);
    expect(statSync(card).mode & 0o777).toBe(0o600);
  });
});
