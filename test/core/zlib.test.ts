import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { zlib } from '../../src/core/zlib.js';
import { makeDemoImage } from '../../src/demo/image.js';
import { ensureBundle } from '../bootstrap/bundle.js';
import { tempDir } from '../burner/fixtures.js';

describe('zlib(): node:zlib on first use', () => {
  it('is node\'s zlib', () => {
    const text = Buffer.from('metis '.repeat(100));
    expect(zlib().gunzipSync(zlib().gzipSync(text)).equals(text)).toBe(true);
  });
});

// The reason it exists: a local burn of an image that is not gzip starts without node:zlib. Judged
// on the real bundle, by node's own list of the built-ins it loaded; a gzip image must load it (so
// the check can tell).
describe('the CLI bundle loads node:zlib only for a gzip image (real node, real bundle)', () => {
  const work = tempDir('metis-zlib-');
  const img = join(work.dir, 'class.img');
  const hook = join(work.dir, 'loaded.cjs');
  beforeAll(async () => {
    ensureBundle();
    await makeDemoImage(img, work.dir, { fat: 'own' });
    writeFileSync(`${img}.gz`, gzipSync(readFileSync(img), { level: 1 }));
    writeFileSync(hook, "process.on('exit', () => require('fs').writeFileSync(process.env.LOADED_OUT, process.moduleLoadList.join('\\n')));\n");
  }, 120_000);
  afterAll(() => work.cleanup());

  const burnLoads = (image: string, name: string): string[] => {
    const out = join(work.dir, `${name}.loaded`);
    const args = ['-r', hook, join(process.cwd(), 'dist/metis.js'), 'burn', 'titan-13', '--to', join(work.dir, `${name}.out`), '--image', image, '--no-verify', '--yes', '--inventory', join(process.cwd(), 'inventory'), '--cache', join(work.dir, `${name}-cache`)];
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 120_000, env: { ...process.env, METIS_CODE_CACHE: 'off', METIS_K3S_TOKEN: `K10${'ef'.repeat(32)}::server:zlibtest`, LOADED_OUT: out } });
    expect(r.status, r.stderr).toBe(0);
    return readFileSync(out, 'utf8').split('\n');
  };

  it('a raw image: burned without node:zlib', () => {
    const loaded = burnLoads(img, 'raw');
    expect(loaded).toContain('NativeModule crypto');
    expect(loaded).not.toContain('NativeModule zlib');
  });

  it('a .gz image: node:zlib loaded to decompress it', () => {
    expect(burnLoads(`${img}.gz`, 'gz')).toContain('NativeModule zlib');
  });
});
