import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDemoImage } from '../../../src/demo/image.js';
import { OciClient } from '../../../src/core/oci/client.js';
import { parseOciRef } from '../../../src/core/oci/ref.js';
import { imageCommand } from '../../../src/image/cli.js';
import { parseManifest } from '../../../src/manifest/load.js';
import { metis } from '../commands/run.js';
import { mtype, tempDir } from '../fixtures.js';
import { REGISTRY_BIN, type Registry, startRegistry } from '../source/registry.js';

const INV = new URL('../../../inventory', import.meta.url).pathname;
const env = { METIS_K3S_TOKEN: `K10${'ab'.repeat(32)}::server:signed-burn-pw` };
const t = tempDir('metis-signed-');
const hexOf = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const have = existsSync(REGISTRY_BIN) && existsSync('/usr/bin/skopeo');
if (!have) console.warn(`skip: needs ${REGISTRY_BIN} and /usr/bin/skopeo (apt-get install docker-registry skopeo)`);

let img = '';
let reg: Registry;
let inv = '';
let invWrong = '';

/** An inventory copy whose cluster.yaml trusts `pub` under `policy`. */
function inventoryTrusting(name: string, pub: string, policy: 'required' | 'optional'): string {
  const dir = join(t.dir, name);
  execFileSync('cp', ['-r', INV, dir]);
  execFileSync('cp', [pub, join(dir, 'signing.pub')]);
  appendFileSync(join(dir, 'cluster.yaml'), `signatures:\n  policy: ${policy}\n  publicKeys:\n    - file:signing.pub\n`);
  return dir;
}

async function image(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await imageCommand(argv, { out: (l) => (out += `${l}\n`), err: (l) => (err += `${l}\n`), distDir: t.dir });
  return { code, out, err };
}

const burnArgs = (inventory: string, target: string, ref: string, cache = join(t.dir, 'cache')) => ['burn', 'titan-13', '--to', join(t.dir, target), '--image', ref, '--yes', '--inventory', inventory, '--cache', cache];

beforeAll(async () => {
  img = join(t.dir, 'class.img');
  await makeDemoImage(img, t.dir, { fat: 'own' });
  expect((await image(['keygen', '--out', join(t.dir, 'signer')])).code).toBe(0);
  expect((await image(['keygen', '--out', join(t.dir, 'other')])).code).toBe(0);
  inv = inventoryTrusting('inv-required', join(t.dir, 'signer.pub'), 'required');
  invWrong = inventoryTrusting('inv-wrong', join(t.dir, 'other.pub'), 'required');
  if (have) reg = await startRegistry();
});
afterAll(async () => {
  await reg?.stop();
  t.cleanup();
});

describe.skipIf(!have)('signed class images through docker-registry on loopback', () => {
  let digest = '';
  const ref = () => `oci://${reg.host}/metis/demo:v1`;

  it('image push --sign publishes .zst + block map and a cosign .sig tag; skopeo reads both; openssl verifies the signature', async () => {
    const r = await image(['push', img, ref(), '--sign', join(t.dir, 'signer.key')]);
    expect(r.code, r.err).toBe(0);
    digest = /manifest (sha256:[0-9a-f]{64})/.exec(r.out)![1]!;
    expect(r.out).toContain(`signed: sha256-${digest.slice(7)}.sig`);
    const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${reg.host}/metis/demo:v1`], { encoding: 'utf8' })) as { layers: Array<{ mediaType: string; digest: string }> };
    expect(raw.layers.map((l) => l.mediaType)).toEqual(['application/vnd.metis.image.v1+zstd', 'application/vnd.metis.bmap.v1+xml']);
    const sigTag = `sha256-${digest.slice(7)}.sig`;
    const sigRaw = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${reg.host}/metis/demo:${sigTag}`], { encoding: 'utf8' })) as { layers: Array<{ mediaType: string; digest: string; annotations: Record<string, string> }> };
    expect(sigRaw.layers[0]!.mediaType).toBe('application/vnd.dev.cosign.simplesigning.v1+json');
    // skopeo's full inspect reads the .sig image's config too (cosign's layout).
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/metis/demo:${sigTag}`], { encoding: 'utf8' })) as { Layers: string[] };
    expect(inspected.Layers).toEqual([sigRaw.layers[0]!.digest]);
    const payload = Buffer.from(await (await fetch(`${reg.url}/v2/metis/demo/blobs/${sigRaw.layers[0]!.digest}`)).arrayBuffer());
    expect(JSON.parse(payload.toString())).toEqual({ critical: { identity: { 'docker-reference': `${reg.host}/metis/demo:v1` }, image: { 'docker-manifest-digest': digest }, type: 'cosign container image signature' }, optional: {} });
    writeFileSync(join(t.dir, 'payload.json'), payload);
    writeFileSync(join(t.dir, 'payload.sig'), Buffer.from(sigRaw.layers[0]!.annotations['dev.cosignproject.cosign/signature']!, 'base64'));
    const v = spawnSync('openssl', ['dgst', '-sha256', '-verify', join(t.dir, 'signer.pub'), '-signature', join(t.dir, 'payload.sig'), join(t.dir, 'payload.json')], { encoding: 'utf8' });
    expect(v.stdout.trim()).toBe('Verified OK');
    // The published block map is one bmaptool reads.
    const bmapBlob = Buffer.from(await (await fetch(`${reg.url}/v2/metis/demo/blobs/${raw.layers[1]!.digest}`)).arrayBuffer());
    writeFileSync(join(t.dir, 'pushed.bmap'), bmapBlob);
    execFileSync('bmaptool', ['-q', 'copy', '--bmap', join(t.dir, 'pushed.bmap'), img, join(t.dir, 'bmaptool-copy.img')]);
  });

  it('burn (policy required) verifies the signature, writes sparsely from the block map, and records the written digest', async () => {
    const r = await metis([...burnArgs(inv, 'ok.img', ref()), '--json'], { env });
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('"event":"signature"');
    expect(r.out).toContain('signature verified');
    expect(r.out).not.toContain('no-bmap');
    const done = JSON.parse(r.out.trim().split('\n').at(-1)!) as { bytesWritten: number; imageSize: number; imageSha256: string };
    expect(done.bytesWritten).toBeLessThan(done.imageSize);
    const m = parseManifest(mtype(join(t.dir, 'ok.img'), 'metis/node.yaml').toString('utf8')).manifest;
    expect(m.burn?.imageSha256).toBe(done.imageSha256);
  });

  it('refuses an unsigned image when required (30), writing nothing', async () => {
    await image(['push', img, `oci://${reg.host}/metis/demo:unsigned`, '--uncompressed']);
    const r = await metis(burnArgs(inv, 'unsigned.img', `oci://${reg.host}/metis/demo:unsigned`), { env });
    expect(r.code, r.err).toBe(30);
    expect(r.err).toMatch(/no signature .*requires signed images/);
    expect(existsSync(join(t.dir, 'unsigned.img'))).toBe(false);
  });

  it('refuses a signature by a key cluster.yaml does not trust (31)', async () => {
    const r = await metis(burnArgs(invWrong, 'wrongkey.img', ref(), join(t.dir, 'cache-wrong')), { env });
    expect(r.code, r.err).toBe(31);
    expect(r.err).toMatch(/none verifies with the 1 public key/);
    expect(existsSync(join(t.dir, 'wrongkey.img'))).toBe(false);
  });

  it('refuses a signature whose payload names another manifest digest (32)', async () => {
    // Another artifact, with v1's signature copied under its own .sig tag.
    execFileSync('xz', ['-k', '-0', '-f', img]);
    const other = await image(['push', `${img}.xz`, `oci://${reg.host}/metis/demo:v3`]);
    const otherDigest = /manifest (sha256:[0-9a-f]{64})/.exec(other.out)![1]!;
    const client = new OciClient(parseOciRef(`oci://${reg.host}/metis/demo:v1`));
    const sigManifest = Buffer.from(await (await client.request('GET', `manifests/sha256-${digest.slice(7)}.sig`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).arrayBuffer());
    await client.putManifestBytes(`sha256-${otherDigest.slice(7)}.sig`, sigManifest);
    const r = await metis(burnArgs(inv, 'digest.img', `oci://${reg.host}/metis/demo:v3`), { env });
    expect(r.code, r.err).toBe(32);
    expect(r.err).toContain(`signed payload is for manifest ${digest}, the artifact is ${otherDigest}`);
    expect(existsSync(join(t.dir, 'digest.img'))).toBe(false);
  });

  it('refuses a signature made for another tag (34)', async () => {
    const client = new OciClient(parseOciRef(`oci://${reg.host}/metis/demo:v1`));
    const manifest = Buffer.from(await (await client.request('GET', 'manifests/v1', { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).arrayBuffer());
    await client.putManifestBytes('latest', manifest);
    const r = await metis(burnArgs(inv, 'tag.img', `oci://${reg.host}/metis/demo:latest`), { env });
    expect(r.code, r.err).toBe(34);
    expect(r.err).toMatch(/signature is for tag v1, not latest/);
    expect(existsSync(join(t.dir, 'tag.img'))).toBe(false);
  });

  it('refuses a tampered layer in the cache (33), naming both digests, drops the entry; the old card gets no partition table', async () => {
    const cache = join(t.dir, 'cache-tamper');
    expect((await metis(burnArgs(inv, 'first.img', ref(), cache), { env })).code).toBe(0);
    const blobs = join(cache, 'blobs/sha256');
    const [blob] = readdirSync(blobs);
    const b = readFileSync(join(blobs, blob!));
    b[b.length - 100] = b[b.length - 100]! ^ 0xff;
    writeFileSync(join(blobs, blob!), b);
    const tampered = hexOf(join(blobs, blob!));
    const target = join(t.dir, 'first.img');
    const r = await metis(burnArgs(inv, 'first.img', ref(), cache), { env });
    expect(r.code, r.err).toBe(33);
    expect(r.err).toContain(`the signed manifest names sha256 ${blob}, the bytes read are ${tampered}`);
    expect(readFileSync(target).subarray(0, 1 << 20).every((x) => x === 0)).toBe(true);
    expect(existsSync(join(blobs, blob!))).toBe(false);
  });

  it('burns offline from the cache with the signature kept beside the image', async () => {
    const cache = join(t.dir, 'cache-offline');
    expect((await metis(burnArgs(inv, 'on.img', ref(), cache), { env })).code).toBe(0);
    const r2 = await startRegistry();
    const host = reg.host;
    await reg.stop();
    reg = r2;
    const r = await metis([...burnArgs(inv, 'off.img', `oci://${host}/metis/demo:v1`, cache), '--json'], { env });
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('"from":"cache"');
    expect(r.out).toContain('signature verified');
  });
});

describe('detached signatures and block maps beside HTTP and file images', () => {
  let server: Server;
  let base = '';
  const served = join(t.dir, 'www');
  beforeAll(async () => {
    execFileSync('mkdir', ['-p', served]);
    execFileSync('sh', ['-c', `xz -k -0 -c ${img} > ${served}/class.img.xz && cp ${served}/class.img.xz ${served}/nomap.img.xz && bmaptool -q create -o ${served}/class.bmap ${img}`]);
    const sign = (file: string, key: string) => writeFileSync(`${file}.sig`, `${execFileSync('openssl', ['dgst', '-sha256', '-sign', key, file]).toString('base64')}\n`);
    sign(join(served, 'class.img.xz'), join(t.dir, 'signer.key'));
    sign(join(served, 'nomap.img.xz'), join(t.dir, 'other.key'));
    server = createServer((req, res) => {
      const p = join(served, decodeURIComponent((req.url ?? '/').slice(1)));
      if (!existsSync(p) || p.includes('..')) return void res.writeHead(404).end();
      res.writeHead(200).end(readFileSync(p));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => new Promise((r) => server.close(r)));

  it('HTTP: a sign-blob signature made by openssl is verified over the bytes written; the .bmap beside is used', async () => {
    const r = await metis([...burnArgs(inv, 'http.img', `${base}/class.img.xz`, join(t.dir, 'cache-http')), '--json'], { env });
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('detached signature');
    expect(r.out).not.toContain('no-bmap');
  });

  it('HTTP: a signature by an untrusted key is refused (31) before the card can boot; no block map is said once', async () => {
    const r = await metis(burnArgs(inv, 'http-wrong.img', `${base}/nomap.img.xz`, join(t.dir, 'cache-http2')), { env });
    expect(r.code, r.err).toBe(31);
    expect(r.err.match(/no block map for/g)).toHaveLength(1);
    expect(existsSync(join(t.dir, 'http-wrong.img'))).toBe(false);
  });

  it('file: IMAGE.sig beside a local image; without one, policy required refuses (30)', async () => {
    const local = join(t.dir, 'local.img.xz');
    execFileSync('cp', [join(served, 'class.img.xz'), local]);
    expect((await metis(burnArgs(inv, 'local-unsigned.img', local), { env })).code).toBe(30);
    execFileSync('cp', [join(served, 'class.img.xz.sig'), `${local}.sig`]);
    const ok = await metis(burnArgs(inv, 'local.img', local), { env });
    expect(ok.code, ok.err).toBe(0);
  });

  it('a corrupt compressed image without a digest fails after writing began with the write-failure code 6', async () => {
    const bad = join(t.dir, 'corrupt.img.xz');
    const b = readFileSync(join(served, 'class.img.xz'));
    writeFileSync(bad, b.subarray(0, Math.floor(b.length * 0.6)));
    const r = await metis(['burn', 'titan-13', '--to', join(t.dir, 'corrupt.img'), '--image', bad, '--yes', '--inventory', INV, '--cache', join(t.dir, 'cache')], { env });
    expect(r.code, r.err).toBe(6);
    expect(r.err).toContain('the card will not boot; burn again');
    expect(existsSync(join(t.dir, 'corrupt.img'))).toBe(false);
  });
});
