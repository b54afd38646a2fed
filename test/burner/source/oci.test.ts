import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageCache } from '../../../src/burner/source/cache.js';
import { METIS_LAYER_TYPES, OciClient, pushOci } from '../../../src/core/oci/client.js';
import { pullOci } from '../../../src/burner/source/oci.js';
import { parseOciRef } from '../../../src/core/oci/ref.js';
import { resolveImage } from '../../../src/burner/source/resolve.js';
import { REGISTRY_BIN, type Registry, startRegistry } from './registry.js';

const have = existsSync(REGISTRY_BIN);
if (!have) console.warn(`skip: ${REGISTRY_BIN} missing (apt-get install docker-registry)`);
const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let work = '';
let image = '';
let imageXz = '';
let imageBytes: Buffer;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'metis-burnerA-oci-'));
  imageBytes = Buffer.concat([Buffer.from('METIS-TEST-IMAGE'), Buffer.alloc(3 << 20, 7), Buffer.from([1, 2, 3])]);
  image = join(work, 'class.img');
  await writeFile(image, imageBytes);
  execFileSync('xz', ['-k', '-0', image]);
  imageXz = `${image}.xz`;
});
afterAll(async () => rm(work, { recursive: true, force: true }));

describe('OCI reference parsing', () => {
  it.each([
    ['oci://127.0.0.1:5000/metis/rpi4:2026.11', { host: '127.0.0.1:5000', repo: 'metis/rpi4', reference: '2026.11', base: 'http://127.0.0.1:5000' }],
    ['oci://registry.lab.example/metis/rpi4', { host: 'registry.lab.example', repo: 'metis/rpi4', reference: 'latest', base: 'https://registry.lab.example' }],
    [`oci://localhost:5000/a@sha256:${'0'.repeat(64)}`, { reference: `sha256:${'0'.repeat(64)}`, base: 'http://localhost:5000' }],
  ])('%s', (text, want) => expect(parseOciRef(text)).toMatchObject(want));
  it.each(['oci://host', 'oci://host/UPPER:tag', 'https://host/a:b', 'oci://host/a@sha256:xyz'])('refuses %s', (t) => expect(() => parseOciRef(t)).toThrow(/not an OCI reference/));
});

describe.skipIf(!have)('OCI push and pull against docker-registry on loopback', () => {
  let reg: Registry;
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => reg?.stop());

  it('pushes an xz image and pulls it back into the cache, digest verified', async () => {
    const ref = `oci://${reg.host}/metis/demo:v1`;
    const pushed = await pushOci(imageXz, ref);
    const xzBytes = await readFile(imageXz);
    expect(pushed.layerDigest).toBe(`sha256:${hex(xzBytes)}`);
    const { manifest } = await new OciClient(parseOciRef(ref)).manifest();
    expect(manifest.layers?.[0]?.mediaType).toBe(METIS_LAYER_TYPES.xz);

    const cache = new ImageCache(join(work, 'cache1'));
    const got = await pullOci(cache, ref, {});
    expect(got.sha256).toBe(hex(xzBytes));
    expect((await readFile(got.path)).equals(xzBytes)).toBe(true);
    // By manifest digest too.
    const byDigest = await pullOci(new ImageCache(join(work, 'cache2')), `oci://${reg.host}/metis/demo@${pushed.digest}`, {});
    expect(byDigest.sha256).toBe(hex(xzBytes));
  });

  it('refuses a pull whose layer digest differs from the expected sha256 and caches nothing', async () => {
    const ref = `oci://${reg.host}/metis/raw:v1`;
    await pushOci(image, ref);
    const cache = new ImageCache(join(work, 'cache3'));
    const wrong = 'f'.repeat(64);
    await expect(resolveImage({ ref, sha256: wrong, cache })).rejects.toThrow(new RegExp(`expected ${wrong}, got ${hex(imageBytes)}`));
    expect(await cache.list()).toEqual([]);
  });

  it('works offline once cached: a stopped registry still resolves by digest and by last-seen tag', async () => {
    const r2 = await startRegistry();
    const ref = `oci://${r2.host}/metis/off:v1`;
    await pushOci(image, ref);
    const cache = new ImageCache(join(work, 'cache4'));
    const first = await resolveImage({ ref, cache });
    expect(first.from).toBe('oci');
    await r2.stop();
    expect((await resolveImage({ ref, cache, sha256: hex(imageBytes) })).from).toBe('cache');
    expect((await resolveImage({ ref, cache })).from).toBe('cache');
  });

  it('an artifact that is not a Metis image is refused by name', async () => {
    const client = new OciClient(parseOciRef(`oci://${reg.host}/other/thing:v1`));
    const cfg = Buffer.from('{}');
    const cfgDigest = `sha256:${hex(cfg)}`;
    await client.uploadBlob(cfgDigest, cfg, cfg.length);
    await client.putManifest('v1', { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: cfgDigest, size: 2 }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: cfgDigest, size: 2 }] });
    await expect(pullOci(new ImageCache(join(work, 'cache5')), `oci://${reg.host}/other/thing:v1`, {})).rejects.toThrow(/not a Metis image/);
  });
});

describe.skipIf(!have)('OCI bearer token auth (distribution token auth, loopback token server)', () => {
  let reg: Registry;
  const creds = { user: 'burner', password: 'burnerA-registry-pw' };
  beforeAll(async () => {
    reg = await startRegistry({ token: creds });
  });
  afterAll(async () => reg?.stop());

  it('gets a token with basic credentials from the environment, then pushes and pulls', async () => {
    const env = { METIS_REGISTRY_USER: creds.user, METIS_REGISTRY_PASSWORD: creds.password };
    const ref = `oci://${reg.host}/metis/auth:v1`;
    await pushOci(image, ref, { env });
    const got = await pullOci(new ImageCache(join(work, 'cache6')), ref, { env });
    expect(got.sha256).toBe(hex(imageBytes));
    // The registry lists actions in no fixed order.
    const scopes = reg.tokenRequests.map((t) => (t.scope ?? '').split(':').map((p, i) => (i === 2 ? p.split(',').sort().join(',') : p)).join(':'));
    expect(scopes).toContain('repository:metis/auth:pull,push');
    expect(scopes).toContain('repository:metis/auth:pull');
  });

  it('without credentials the token server refuses and the pull fails as not authorized', async () => {
    await expect(pullOci(new ImageCache(join(work, 'cache7')), `oci://${reg.host}/metis/auth:v1`, { env: {} })).rejects.toThrow(/token request .* failed: HTTP 401/);
  });
});
