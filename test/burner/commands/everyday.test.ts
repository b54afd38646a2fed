import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimTarget } from '../../../src/burner/safety/claim.js';
import { makeDemoImage } from '../../../src/demo/image.js';
import { parseManifest } from '../../../src/manifest/load.js';
import { isRoot, mtype, tempDir } from '../fixtures.js';
import { metis } from './run.js';

// Issue 13 ("Everyday use"), operator side: each case failed on the code before it.
const INV = new URL('../../../inventory', import.meta.url).pathname;
const REPO = new URL('../../..', import.meta.url).pathname;
const PW = 'everyday-secret-pw';
const TOKEN = `K10${'ab'.repeat(32)}::server:${PW}`;
// The example inventory's sealed examples open with its throwaway demo key (docs/identity.md).
const env = { METIS_K3S_TOKEN: TOKEN, SOPS_AGE_KEY_FILE: new URL('../../../inventory/demo-age-key.txt', import.meta.url).pathname };
const t = tempDir('metis-everyday-');
let img = '';
let sha = '';
let closedPort = 0;
const common = () => ['--inventory', INV, '--cache', join(t.dir, 'cache'), '--yes'];
const noSecret = (...s: string[]) => s.forEach((x) => expect(x).not.toContain(PW));

beforeAll(async () => {
  img = join(t.dir, 'class.img');
  await makeDemoImage(img, t.dir, { fat: 'own' });
  sha = createHash('sha256').update(readFileSync(img)).digest('hex');
  // A loopback port nothing listens on: bound by the OS, then closed.
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  closedPort = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
});
afterAll(() => t.cleanup());

/** A private copy of the example inventory to break on purpose. */
function inventoryCopy(name: string): string {
  const dir = join(t.dir, name);
  cpSync(INV, dir, { recursive: true });
  return dir;
}

describe('help and flags', () => {
  it.each(['burn', 'nodes', 'manifest', 'devices', 'cache', 'image'])('metis %s --help and metis help %s print that usage, exit 0', async (cmd) => {
    const a = await metis([cmd, '--help']);
    expect(a.code, a.err).toBe(0);
    expect(a.out).toMatch(new RegExp(`usage:[\\s\\S]*metis ${cmd}`));
    const b = await metis(['help', cmd]);
    expect(b.code).toBe(0);
    expect(b.out).toBe(a.out);
  });

  it('names of Object.prototype are no commands: help toString, constructor (exit 2, the usage)', async () => {
    const h = await metis(['help', 'toString']);
    expect(h.code).toBe(2);
    expect(h.err).toMatch(/^metis: no command toString\nusage: metis COMMAND/);
    const c = await metis(['constructor']);
    expect(c.code).toBe(2);
    expect(c.err).toMatch(/^metis: unknown command constructor/);
    const p = await metis(['hasOwnProperty', '--help']);
    expect(p.code).toBe(2);
    expect(p.out).toBe('');
  });

  it('an unknown flag names the closest valid one, not the parser internals (exit 2)', async () => {
    const r = await metis(['burn', 'titan-13', '--devcie', '/dev/sdz']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown flag --devcie \(did you mean --device\?\)/);
    expect(r.err).not.toMatch(/positional argument|Unknown option/);
    const m = await metis(['nodes', '--jsno']);
    expect(m.code).toBe(2);
    expect(m.err).toMatch(/did you mean --json\?/);
    const v = await metis(['burn', 'titan-13', '--to']);
    expect(v.code).toBe(2);
    expect(v.err).toMatch(/--to needs a value/);
  });
});

describe('burns that must not succeed', () => {
  it('refuses a truncated copy (partition table past its end) before writing: exit 4', async () => {
    const cut = join(t.dir, 'cut.img');
    writeFileSync(cut, readFileSync(img).subarray(0, 40 * 1024 * 1024));
    const target = join(t.dir, 'cut-out.img');
    const r = await metis(['burn', 'titan-13', '--to', target, '--image', cut, ...common()], { env });
    expect(r.code, r.err).toBe(4);
    expect(r.err).toMatch(/partition table reaches byte \d+ but the image holds 41943040 bytes .*truncated copy/);
    expect(existsSync(target)).toBe(false);
  });

  it('says prominently that no digest is known; --require-digest and a class policy make it an error', async () => {
    const ok = await metis(['burn', 'titan-13', '--to', join(t.dir, 'nodigest.img'), '--image', img, ...common()], { env });
    expect(ok.code, ok.err).toBe(0);
    expect(ok.err).toMatch(/WARNING: no sha256 is known for .*class\.img/);
    expect(ok.out).toMatch(/image sha256 not pinned/);

    const strict = await metis(['burn', 'titan-13', '--to', join(t.dir, 'strict.img'), '--image', img, '--require-digest', ...common()], { env });
    expect(strict.code).toBe(4);
    expect(strict.err).toMatch(/no sha256 is known .* --require-digest/);
    expect(existsSync(join(t.dir, 'strict.img'))).toBe(false);

    const inv = inventoryCopy('inv-policy');
    const cls = join(inv, 'classes/rpi5-worker.yaml');
    writeFileSync(cls, readFileSync(cls, 'utf8').replace(/\nimage:\n/, '\nimage:\n  requireDigest: true\n'));
    const node = (await metis(['nodes', '--json', '--inventory', inv])).out;
    const worker = (JSON.parse(node) as { hostname: string; class: string }[]).find((n) => n.class === 'rpi5-worker')!.hostname;
    const policy = await metis(['burn', worker, '--to', join(t.dir, 'policy.img'), '--image', img, '--inventory', inv, '--cache', join(t.dir, 'cache'), '--yes'], { env });
    expect(policy.code, policy.err).toBe(4);
    expect(policy.err).toMatch(/class rpi5-worker sets image\.requireDigest/);
  });

  it('a second burn to a claimed target gets "in use by another metis burn (pid N)", exit 27', async () => {
    const target = join(t.dir, 'claimed.img');
    const claim = await claimTarget(target);
    try {
      const r = await metis(['burn', 'titan-13', '--to', target, '--image', img, ...common()], { env });
      expect(r.code, r.err).toBe(27);
      expect(r.err).toContain(`in use by another metis burn (pid ${process.pid})`);
      expect(existsSync(target)).toBe(false);
    } finally {
      await claim.release();
    }
  });

  it('a corrupt compressed image that fails mid-write exits 6 and says to burn again', async () => {
    const raw = readFileSync(img);
    const gz = Buffer.from(gzipSync(raw, { level: 1 }));
    // Damage the deflate data well past the head: the stream breaks after writing has begun.
    for (let i = Math.floor(gz.length * 0.6); i < Math.floor(gz.length * 0.6) + 4096; i++) gz[i] = gz[i]! ^ 0x5a;
    const bad = join(t.dir, 'bad.img.gz');
    writeFileSync(bad, gz);
    const r = await metis(['burn', 'titan-13', '--to', join(t.dir, 'bad-out.img'), '--image', bad, ...common()], { env });
    expect(r.code, r.err).toBe(6);
    expect(r.err).toMatch(/not a valid gz stream.*will not boot[:;] burn again/s);
  });
});

describe('card image files', () => {
  it('--to FILE is created 0600 (it holds the join token) and says so; an existing 0644 file is taken to 0600', async () => {
    const target = join(t.dir, 'private.img');
    const r = await metis(['burn', 'titan-13', '--to', target, '--image', img, '--sha256', `sha256:${sha.toUpperCase()}`, ...common()], { env });
    expect(r.code, r.err).toBe(0);
    expect(statSync(target).mode & 0o777).toBe(0o600);
    expect(r.out).toMatch(/mode 0600 \(it holds the join token/);
    expect(parseManifest(mtype(target, 'metis/node.yaml').toString('utf8')).manifest.burn?.imageSha256).toBe(sha);
    noSecret(r.out, r.err);

    const old = join(t.dir, 'old.img');
    writeFileSync(old, 'x');
    chmodSync(old, 0o644);
    const again = await metis(['burn', 'titan-13', '--to', old, '--image', img, ...common()], { env });
    expect(again.code, again.err).toBe(0);
    expect(statSync(old).mode & 0o777).toBe(0o600);
  });
});

describe('errors that point the right way', () => {
  it('a missing --device is exit 20 "does not exist", found before the image is fetched', async () => {
    const r = await metis(['burn', 'titan-13', '--device', '/dev/mev-no-such-card', '--image', `http://127.0.0.1:${closedPort}/x.img`, ...common()], { env });
    expect(r.code, r.err).toBe(20);
    expect(r.err).toMatch(/\/dev\/mev-no-such-card: the device does not exist/);
    expect(r.err).not.toMatch(/fetch|refused/);
  });

  it('the target is claimed while the inventory is read, yet a bad inventory or manifest is still the error reported; the claim is let go', async () => {
    const inv = inventoryCopy('inv-early-claim');
    writeFileSync(join(inv, 'cluster.yaml'), `${readFileSync(join(inv, 'cluster.yaml'), 'utf8')}\nnot-a-field: 1\n`);
    const missing = await metis(['burn', 'titan-13', '--device', '/dev/mev-no-such-card', '--image', img, '--inventory', inv, '--yes'], { env });
    expect(missing.code, missing.err).toBe(3);
    expect(missing.err).toMatch(/cluster\.yaml/);
    expect(missing.err).not.toMatch(/does not exist/);
    const target = join(t.dir, 'early-claim.img');
    const held = await claimTarget(target);
    try {
      const busy = await metis(['burn', 'titan-13', '--to', target, '--image', img, '--inventory', inv, '--yes'], { env });
      expect(busy.code, busy.err).toBe(3);
      expect(busy.err).not.toMatch(/in use by another metis burn/);
    } finally {
      await held.release();
    }
    // The manifest (a bad token) before a missing device, as before the claim moved up.
    const token = await metis(['burn', 'titan-13', '--device', '/dev/mev-no-such-card', '--image', img, ...common()], { env: { METIS_K3S_TOKEN: 'K10abc' } });
    expect(token.code, token.err).toBe(3);
    // Each failed run let its early claim go: the target can be claimed at once.
    const bad = await metis(['burn', 'titan-13', '--to', target, '--image', img, '--inventory', inv, '--yes'], { env });
    expect(bad.code).toBe(3);
    const free = await claimTarget(target);
    await free.release();
    expect(existsSync(target)).toBe(false);
  });

  it('a network failure names its cause and exits 4', async () => {
    const r = await metis(['burn', 'titan-13', '--to', join(t.dir, 'net.img'), '--image', `http://127.0.0.1:${closedPort}/x.img`, ...common()], { env });
    expect(r.code, r.err).toBe(4);
    expect(r.err).toMatch(/connection refused .*\(ECONNREFUSED\)/);
    const oci = await metis(['burn', 'titan-13', '--to', join(t.dir, 'net.img'), '--image', `oci://127.0.0.1:${closedPort}/metis/x:1`, ...common()], { env });
    expect(oci.code, oci.err).toBe(4);
    expect(oci.err).toMatch(/connection refused .*\(ECONNREFUSED\)/);
  });

  it.each([
    ['a trailing space', `${TOKEN} `, /ends with whitespace — a trailing space/],
    ['a wrong prefix', `K11${TOKEN.slice(3)}`, /does not start with K10/],
    ['a short CA hash', `K10${'ab'.repeat(20)}::server:${PW}`, /40 hex characters, not the 64/],
    ['too short', 'K10abc', /6 characters long/],
  ])('a malformed env token (%s) names cluster.yaml and the variable, never the value', async (_n, token, why) => {
    const r = await metis(['burn', 'titan-13', '--to', join(t.dir, 'tok.img'), '--image', img, ...common()], { env: { METIS_K3S_TOKEN: token } });
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/cluster\.yaml: token: the value from env:METIS_K3S_TOKEN is not a usable k3s token/);
    expect(r.err).toMatch(why);
    expect(r.err).not.toMatch(/nodes\/titan-13\.yaml/);
    expect(r.err).not.toContain(PW);
    if (token.length > 8) expect(r.err).not.toContain(token.trim().slice(0, 20));
  });

  it('one broken unrelated node file is a warning; it still blocks the node it names and strict commands', async () => {
    const inv = inventoryCopy('inv-broken');
    writeFileSync(join(inv, 'nodes/atlas-02.yaml'), readFileSync(join(inv, 'nodes/atlas-02.yaml'), 'utf8').replace(/class: \S+/, 'class: no-such-class'));
    const flags = ['--image', img, '--inventory', inv, '--cache', join(t.dir, 'cache'), '--yes'];
    const ok = await metis(['burn', 'titan-13', '--to', join(t.dir, 'broken-ok.img'), ...flags], { env });
    expect(ok.code, ok.err).toBe(0);
    expect(ok.err).toMatch(/warning: .*atlas-02\.yaml is invalid and was skipped \(it does not concern titan-13\)/);
    const self = await metis(['burn', 'atlas-02', '--to', join(t.dir, 'broken-self.img'), ...flags], { env });
    expect(self.code).toBe(3);
    expect(self.err).toMatch(/atlas-02\.yaml.*unknown class "no-such-class"/s);
    expect((await metis(['nodes', '--inventory', inv])).code).toBe(3);

    // A broken file that takes titan-13's address still stops titan-13's burn.
    const clash = inventoryCopy('inv-clash');
    writeFileSync(join(clash, 'nodes/zz-clash.yaml'), 'hostname: zz-clash\nclass: no-such-class\naddress: 192.168.22.13/24\n');
    const dup = await metis(['burn', 'titan-13', '--to', join(t.dir, 'clash.img'), '--image', img, '--inventory', clash, '--cache', join(t.dir, 'cache'), '--yes'], { env });
    expect(dup.code).toBe(3);
    expect(dup.err).toMatch(/zz-clash\.yaml/);
  });

  it.each([
    ['the network address', '192.168.22.0/24', /192\.168\.22\.0 is the network address of 192\.168\.22\.0\/24/],
    ['the broadcast address', '192.168.22.255/24', /192\.168\.22\.255 is the broadcast address/],
    ["the gateway's address", '192.168.22.1/24', /192\.168\.22\.1 is the gateway's address/],
  ])('a node address that is %s is refused naming file and field', async (_n, address, msg) => {
    const inv = inventoryCopy(`inv-addr-${address.split('/')[0]}`);
    const file = join(inv, 'nodes/titan-13.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('address: 192.168.22.13/24', `address: ${address}`));
    const r = await metis(['manifest', 'titan-13', '--inventory', inv], { env });
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/titan-13\.yaml:\d+: address: /);
    expect(r.err).toMatch(msg);
  });
});

const NOBODY = 65534;
if (!isRoot) console.warn('skip: needs root: loop device and setpriv to drop to an unprivileged user');
describe.skipIf(!isRoot)('non-root on a device', () => {
  let loop = '';
  beforeAll(() => {
    const backing = join(t.dir, 'nr-card.bin');
    execFileSync('truncate', ['-s', '128M', backing]);
    loop = execFileSync('losetup', ['-f', '--show', backing], { encoding: 'utf8' }).trim();
  });
  afterAll(() => {
    if (loop) execFileSync('losetup', ['-d', loop]);
  });

  it('says "needs root (or write access to DEV)", exit 28, not EACCES', () => {
    // The unprivileged user must be able to read the tool, the inventory and the image.
    chmodSync(t.dir, 0o755);
    const inv = inventoryCopy('inv-nobody');
    const cache = join(t.dir, 'nobody-cache');
    execFileSync('mkdir', ['-m', '777', cache]);
    const r = spawnSync('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', process.execPath, join(REPO, 'dist/metis.js'),
      'burn', 'titan-13', '--device', loop, '--image', img, '--inventory', inv, '--cache', cache, '--yes'], { encoding: 'utf8', env: { PATH: process.env['PATH'], METIS_K3S_TOKEN: TOKEN, HOME: '/nonexistent' } });
    expect(r.status, r.stderr).toBe(28);
    expect(r.stderr).toContain(`writing it needs root (or write access to ${loop})`);
    expect(r.stderr).not.toMatch(/EACCES/);
    expect(r.stderr).not.toContain(PW);
  });
});
