import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageCache } from '../../src/burner/source/cache.js';
import { pullOci } from '../../src/burner/source/oci.js';
import { sha256File } from '../../src/core/hash-file.js';
import { imageCommand } from '../../src/image/cli.js';
import { REGISTRY_BIN, type Registry, startRegistry } from '../burner/source/registry.js';

const have = existsSync(REGISTRY_BIN);
if (!have) console.warn(`skip: ${REGISTRY_BIN} missing (apt-get install docker-registry)`);

describe.skipIf(!have)('metis image push (real registry on loopback)', () => {
  let reg: Registry;
  let dir: string;
  beforeAll(async () => {
    reg = await startRegistry();
    dir = await mkdtemp(join(tmpdir(), 'metis-image-push-'));
  });
  afterAll(async () => {
    await reg?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('pushes an image the burner then pulls back byte for byte', async () => {
    const img = join(dir, 'class.img');
    await writeFile(img, Buffer.concat([Buffer.alloc(4096, 0x55), Buffer.from('metis class image')]));
    const out: string[] = [];
    const err: string[] = [];
    const ref = `oci://${reg.host}/metis/test-class:2026.11`;
    const code = await imageCommand(['push', img, ref, '--uncompressed'], { out: (l) => out.push(l), err: (l) => err.push(l), distDir: dir });
    expect(err).toEqual([]);
    expect(code).toBe(0);
    const hex = await sha256File(img);
    expect(out.join('\n')).toContain(`image sha256:${hex}`);
    const pulled = await pullOci(new ImageCache(join(dir, 'cache')), ref, { expected: hex });
    expect(pulled.sha256).toBe(hex);
    expect(await sha256File(pulled.path)).toBe(hex);
  });

  it('pushes a raw image as .zst by default, with a block map layer made from the image', async () => {
    const img = join(dir, 'class.img');
    const out: string[] = [];
    const ref = `oci://${reg.host}/metis/test-class:zst`;
    expect(await imageCommand(['push', img, ref], { out: (l) => out.push(l), err: () => {}, distDir: dir })).toBe(0);
    expect(out.join('\n')).toContain('(class.img.zst, block map made from the image)');
    const pulled = await pullOci(new ImageCache(join(dir, 'cache-zst')), ref, {});
    expect(execFileSync('zstd', ['-dc', pulled.path]).equals(readFileSync(img))).toBe(true);
    expect(readFileSync(pulled.bmap!, 'utf8')).toMatch(/<ImageSize> 4113 <\/ImageSize>[\s\S]*<Range chksum="[0-9a-f]{64}"> 0-1 <\/Range>/);
  });

  it('refuses a bad --sign key before publishing anything', async () => {
    await writeFile(join(dir, 'bad.key'), 'not a key');
    const err: string[] = [];
    const ref = `oci://${reg.host}/metis/test-class:badkey`;
    expect(await imageCommand(['push', join(dir, 'class.img'), ref, '--sign', join(dir, 'bad.key')], { out: () => {}, err: (l) => err.push(l), distDir: dir })).toBe(1);
    expect(err.join('\n')).toMatch(/bad\.key: not a PEM private key/);
    expect((await fetch(`${reg.url}/v2/metis/test-class/manifests/badkey`)).status).toBe(404);
  });

  it('refuses a non-oci target (usage, exit 2) and a missing file (exit 1)', async () => {
    const err: string[] = [];
    const io = { out: () => {}, err: (l: string) => err.push(l), distDir: dir };
    expect(await imageCommand(['push', join(dir, 'class.img'), 'https://x/y'], io)).toBe(2);
    expect(await imageCommand(['push', join(dir, 'missing.img'), `oci://${reg.host}/metis/x:1`], io)).toBe(1);
    expect(err.join('\n')).toMatch(/must be oci:\/\/REGISTRY\/REPO:TAG[\s\S]*cannot read .*missing\.img/);
  });
});
