import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const repo = new URL('../../../', import.meta.url).pathname;
const built = existsSync(`${repo}dist/metis.js`) && existsSync(`${repo}dist/metis-bootstrap.js`);
if (!built) console.warn('skip: dist/ not built (npm test builds it before vitest)');

describe.skipIf(!built)('npm run demo (scripts/demo.mjs on the built bundles)', () => {
  it('burns titan-13, reads the manifest back, shows the first-boot plan, exits 0, prints no token', () => {
    const r = spawnSync('node', ['scripts/demo.mjs'], { cwd: repo, encoding: 'utf8', timeout: 240_000, env: { ...process.env, METIS_K3S_TOKEN: '' } });
    const all = r.stdout + r.stderr;
    expect(r.status, all.slice(-2000)).toBe(0);
    expect(all).toMatch(/burned titan-13 to .*titan-13-card\.img: .* verified; metis\/node\.yaml written and read back/);
    expect(all).toMatch(/hostname: titan-13/);
    expect(all).toMatch(/WOULD CHANGE +hostname/);
    expect(all).toMatch(/scratch root unchanged/);
    // The demo's throwaway token is random; any K10 token in the output would be a leak.
    expect(all).not.toMatch(/K10[0-9a-f]{64}/);
  });
});
