import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDemoImage } from '../../../src/demo/image.js';
import { parseManifest } from '../../../src/manifest/load.js';
import { fsckBoot, mtype, tempDir } from '../fixtures.js';
import { metis } from './run.js';
import { pushOci } from '../../../src/core/oci/client.js';
import { REGISTRY_BIN, startRegistry } from '../source/registry.js';

const INV = new URL('../../../inventory', import.meta.url).pathname;
const PW = 'burnerA-cli-secret-pw';
const TOKEN = `K10${'cd'.repeat(32)}::server:${PW}`;
const env = { METIS_K3S_TOKEN: TOKEN };
const t = tempDir('metis-burnerA-cli-');
let img = '';
let imgXz = '';
let sha = '';
let xzSha = '';
const hexOf = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const common = () => ['--inventory', INV, '--cache', join(t.dir, 'cache')];

beforeAll(async () => {
  img = join(t.dir, 'class.img');
  await makeDemoImage(img, t.dir, { fat: 'own' });
  sha = hexOf(img);
  execFileSync('xz', ['-k', '-0', '-T1', img]);
  imgXz = `${img}.xz`;
  xzSha = hexOf(imgXz);
});
afterAll(() => t.cleanup());

/** No output of any command may contain the token or its password. */
function noSecrets(...texts: string[]) {
  for (const s of texts) {
    expect(s.split(TOKEN).length - 1).toBe(0);
    expect(s.split(PW).length - 1).toBe(0);
  }
}

describe('metis burn --to FILE', () => {
  it('burns titan-13 from .xz, verifies, injects metis/node.yaml readable by mtools and clean for fsck.fat', async () => {
    const target = join(t.dir, 'titan-13.img');
    const r = await metis(['burn', 'titan-13', '--to', target, '--image', imgXz, '--sha256', xzSha, '--yes', '--json', ...common()], { env });
    expect(r.code, r.err + r.out).toBe(0);
    noSecrets(r.out, r.err);
    const events = r.out.trim().split('\n').map((l) => JSON.parse(l) as { event: string; phase?: string; verified?: boolean; imageSha256?: string });
    const phases = new Set(events.filter((e) => e.event === 'progress').map((e) => e.phase));
    expect(phases).toContain('writing');
    expect(phases).toContain('verifying');
    const done = events.at(-1)!;
    expect(done).toMatchObject({ event: 'done', verified: true, imageSha256: xzSha });
    expect(statSync(target).size).toBe(statSync(img).size);
    const text = mtype(target, 'metis/node.yaml').toString('utf8');
    const m = parseManifest(text).manifest;
    expect(m.node.hostname).toBe('titan-13');
    expect(m.k3s?.token).toBe(TOKEN);
    expect(m.burn).toMatchObject({ image: imgXz, imageSha256: xzSha });
    const fsck = fsckBoot(target, t.dir);
    expect(fsck.status, fsck.report).toBe(0);
  });

  it('asks on a terminal naming node, target and size; "yes" burns, anything else refuses with exit 5', async () => {
    const target = join(t.dir, 'asked.img');
    const no = await metis(['burn', 'titan-15', '--to', target, '--image', img, '--no-verify', ...common()], { env, answer: 'no' });
    expect(no.code).toBe(5);
    expect(no.asked[0]).toMatch(/Burn node titan-15 to image file .*asked\.img/);
    expect(existsSync(target)).toBe(false);
    const yes = await metis(['burn', 'titan-15', '--to', target, '--image', img, '--no-verify', ...common()], { env, answer: 'yes' });
    expect(yes.code, yes.err).toBe(0);
    expect(yes.out).toMatch(/NOT verified/);
    noSecrets(yes.out, yes.err);
  });

  it.each([
    ['no terminal and no --yes', (d: string) => ['burn', 'titan-13', '--to', join(d, 'x1.img'), '--image', img], env, 5, /no terminal to confirm on; pass --yes/],
    ['wrong --sha256', (d: string) => ['burn', 'titan-13', '--to', join(d, 'x2.img'), '--image', img, '--sha256', 'e'.repeat(64), '--yes'], env, 4, /sha256 mismatch: expected e{64}, got [0-9a-f]{64}/],
    ['target is the source image', () => ['burn', 'titan-13', '--to', img, '--image', img, '--yes'], env, 23, /it is the source image/],
    ['both --device and --to', (d: string) => ['burn', 'titan-13', '--to', join(d, 'x3.img'), '--device', '/dev/null', '--image', img], env, 2, /exactly one of --device/],
    ['unknown flag', (d: string) => ['burn', 'titan-13', '--to', join(d, 'x4.img'), '--colour'], env, 2, /colour/],
    ['unknown node', (d: string) => ['burn', 'titan-99', '--to', join(d, 'x5.img'), '--image', img, '--yes'], env, 3, /no node titan-99/],
    ['token unset', (d: string) => ['burn', 'titan-13', '--to', join(d, 'x6.img'), '--image', img, '--yes'], {}, 3, /METIS_K3S_TOKEN is not set/],
    ['image missing', (d: string) => ['burn', 'titan-13', '--to', join(d, 'x7.img'), '--image', join(d, 'nope.img'), '--yes'], env, 4, /no such file/],
    // Issue 13: a missing device is "does not exist" (exit 20), found before the image is fetched.
    ['--device that does not exist', (d: string) => ['burn', 'titan-13', '--device', join(d, 'x8.img'), '--image', img, '--yes'], env, 20, /x8\.img: the device does not exist/],
    ['--device on a regular file', () => ['burn', 'titan-13', '--device', img, '--image', img, '--yes'], env, 2, /not a block device; use --to FILE/],
  ])('%s', async (_n, args, e, code, msg) => {
    const r = await metis([...args(t.dir), ...common()], { env: e });
    expect(r.code, r.err).toBe(code);
    expect(r.err).toMatch(msg);
    noSecrets(r.out, r.err);
    for (const x of ['x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7', 'x8']) expect(existsSync(join(t.dir, `${x}.img`))).toBe(false);
  });

  it('a local image with a .sha256 sidecar is verified against it', async () => {
    const copy = join(t.dir, 'side.img');
    execFileSync('cp', [img, copy]);
    execFileSync('sh', ['-c', `echo ${'1'.repeat(64)}  side.img > ${copy}.sha256`]);
    const r = await metis(['burn', 'titan-17', '--to', join(t.dir, 'side-out.img'), '--image', copy, '--yes', ...common()], { env });
    expect(r.code).toBe(4);
    expect(r.err).toMatch(new RegExp(`expected ${'1'.repeat(64)}, got ${sha}`));
  });
});

describe('metis nodes / manifest / cache', () => {
  it('nodes lists the example lab', async () => {
    const r = await metis(['nodes', '--json', '--inventory', INV]);
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.out) as { hostname: string; role: string }[];
    expect(rows.find((n) => n.hostname === 'titan-0a')?.role).toBe('server');
    expect(rows).toHaveLength(8);
  });

  it('manifest redacts secrets unless --reveal-secrets', async () => {
    const red = await metis(['manifest', 'titan-13', '--inventory', INV], { env });
    expect(red.code).toBe(0);
    noSecrets(red.out, red.err);
    expect(red.out).toMatch(/token: "?\[redacted\]"?/);
    const shown = await metis(['manifest', 'titan-13', '--inventory', INV, '--reveal-secrets'], { env });
    expect(parseManifest(shown.out).manifest.k3s?.token).toBe(TOKEN);
  });

  it('cache ls shows nothing for local images; prune --all empties it', async () => {
    const ls = await metis(['cache', 'ls', '--cache', join(t.dir, 'cache')]);
    expect(ls.code).toBe(0);
    expect(ls.out).toMatch(/is empty/);
    expect((await metis(['cache', 'prune', '--all', '--cache', join(t.dir, 'cache')])).code).toBe(0);
    expect((await metis(['cache', 'frob'])).code).toBe(2);
  });

  it('unknown command → usage, exit 2', async () => {
    const r = await metis(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown command frobnicate/);
  });
});

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('skip: needs root: loop devices');
describe.skipIf(!isRoot)('metis burn --device on a loop device', () => {
  let loop = '';
  beforeAll(() => {
    const backing = join(t.dir, 'card.bin');
    execFileSync('truncate', ['-s', '128M', backing]);
    loop = execFileSync('losetup', ['-f', '--show', backing], { encoding: 'utf8' }).trim();
  });
  afterAll(() => {
    if (loop) execFileSync('losetup', ['-d', loop]);
  });

  it('the prompt names node, device, model and size; then burns, verifies and injects', async () => {
    const no = await metis(['burn', 'titan-19', '--device', loop, '--image', imgXz, ...common()], { env, answer: 'n' });
    expect(no.code).toBe(5);
    expect(no.asked[0]).toMatch(new RegExp(`Burn node titan-19 to device ${loop} \\(.+, 128\\.0 MiB, loop\\)`));
    const r = await metis(['burn', 'titan-19', '--device', loop, '--image', imgXz, '--sha256', xzSha, '--yes', ...common()], { env });
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/verified/);
    noSecrets(r.out, r.err);
    expect(parseManifest(mtype(loop, 'metis/node.yaml').toString('utf8')).manifest.node.hostname).toBe('titan-19');
    const fsck = fsckBoot(loop, t.dir);
    expect(fsck.status, fsck.report).toBe(0);
  });

  it('metis devices lists the loop device with its size', async () => {
    const r = await metis(['devices', '--json']);
    expect(r.code, r.err).toBe(0);
    const devs = JSON.parse(r.out) as { path: string; size: number; system: boolean }[];
    expect(devs.find((d) => d.path === loop)).toMatchObject({ size: 128 * 1024 * 1024, system: false });
    const text = await metis(['devices']);
    expect(text.out).toMatch(new RegExp(`${loop}\\s+128\\.0 MiB`));
  });

  it('--to on a block device is a usage error and writes nothing', async () => {
    const r = await metis(['burn', 'titan-19', '--to', loop, '--image', img, '--yes', ...common()], { env });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/is a block device; use --device/);
  });
});

describe.skipIf(!existsSync(REGISTRY_BIN))('metis burn --image oci://… (docker-registry on loopback)', () => {
  it('pulls the class image into the cache, burns; then burns again offline from the cache', async () => {
    const reg = await startRegistry();
    const ref = `oci://${reg.host}/metis/rpi4-longhorn:demo`;
    const cacheDir = join(t.dir, 'oci-cache');
    try {
      await pushOci(imgXz, ref);
      const r = await metis(['burn', 'titan-13', '--to', join(t.dir, 'oci1.img'), '--image', ref, '--sha256', xzSha, '--yes', '--json', '--inventory', INV, '--cache', cacheDir], { env });
      expect(r.code, r.err).toBe(0);
      expect(r.out).toContain('"from":"oci"');
    } finally {
      await reg.stop();
    }
    const again = await metis(['burn', 'titan-13', '--to', join(t.dir, 'oci2.img'), '--image', ref, '--sha256', xzSha, '--yes', '--json', '--inventory', INV, '--cache', cacheDir], { env });
    expect(again.code, again.err).toBe(0);
    expect(again.out).toContain('"from":"cache"');
    const ls = await metis(['cache', 'ls', '--cache', cacheDir]);
    expect(ls.out).toContain(xzSha);
    expect(ls.out).toContain(ref);
  });
});

describe.skipIf(!existsSync(REGISTRY_BIN))('metis burn --image oci://… with a block map: written while it downloads', () => {
  it('a cold pull burns, the card equals the image where mapped, and the blob is then in the cache under its digest', async () => {
    const reg = await startRegistry();
    const ref = `oci://${reg.host}/metis/hwf-streamed:v1`;
    const cacheDir = join(t.dir, 'oci-stream-cache');
    const size = statSync(img).size;
    // Everything mapped: the card image must equal the class image outside the boot file the burn injects.
    const bmap = Buffer.from(`<bmap version="2.0"><ImageSize>${size}</ImageSize><BlockSize>4096</BlockSize><BlockMap><Range>0-${size / 4096 - 1}</Range></BlockMap></bmap>`);
    try {
      await pushOci(imgXz, ref, { bmap });
      const out = join(t.dir, 'oci-stream.img');
      const r = await metis(['burn', 'titan-13', '--to', out, '--image', ref, '--sha256', xzSha, '--yes', '--json', '--inventory', INV, '--cache', cacheDir], { env });
      expect(r.code, r.err).toBe(0);
      expect(r.out).toContain('"from":"oci"');
      // Burned from the download's temp file, not from a finished cache entry.
      expect(r.out).toContain(`"event":"image-ready","path":"${join(cacheDir, 'tmp')}/`);
      expect(r.out).toContain('"streaming":true');
      expect(r.out).toContain(`"imageSha256":"${xzSha}"`);
      expect(statSync(out).size).toBe(size);
      expect(readFileSync(out).subarray(0, 512).equals(readFileSync(img).subarray(0, 512))).toBe(true);
      expect(existsSync(join(cacheDir, 'blobs/sha256', xzSha))).toBe(true);
      expect(hexOf(join(cacheDir, 'blobs/sha256', xzSha))).toBe(xzSha);
    } finally {
      await reg.stop();
    }
  });
});

describe('the class image pinned by the inventory', () => {
  it('is used without --image and its image.sha256 is enforced', async () => {
    const inv = join(t.dir, 'inv-pinned');
    execFileSync('cp', ['-r', INV, inv]);
    const cls = join(inv, 'classes/rpi4-longhorn.yaml');
    const pin = (ref: string, hex: string) =>
      execFileSync('sed', ['-i', '-e', `s#^  ref: .*#  ref: ${ref}#`, '-e', `s#^  sha256: .*#  sha256: "${hex}"#`, cls]);
    pin(imgXz, '2'.repeat(64));
    const bad = await metis(['burn', 'titan-13', '--to', join(t.dir, 'pinned.img'), '--yes', '--inventory', inv, '--cache', join(t.dir, 'cache')], { env });
    expect(bad.code, bad.err).toBe(4);
    expect(bad.err).toMatch(new RegExp(`expected ${'2'.repeat(64)}, got ${xzSha}`));
    expect(existsSync(join(t.dir, 'pinned.img'))).toBe(false);
    pin(imgXz, xzSha);
    const ok = await metis(['burn', 'titan-13', '--to', join(t.dir, 'pinned.img'), '--yes', '--inventory', inv, '--cache', join(t.dir, 'cache')], { env });
    expect(ok.code, ok.err).toBe(0);
    expect(parseManifest(mtype(join(t.dir, 'pinned.img'), 'metis/node.yaml').toString('utf8')).manifest.burn?.imageSha256).toBe(xzSha);
  });
});
