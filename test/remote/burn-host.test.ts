import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDemoImage } from '../../src/demo/image.js';
import { parseManifest } from '../../src/manifest/load.js';
import { BOOT_START, fsckBoot, MIB, mtype } from '../burner/fixtures.js';
import { startSshHost, type SshHost } from '../helpers/ssh-host.js';
import { filesContaining, firstMiB, METIS, runMetis, SSH_WRAPPER, sshLog } from './harness.js';

const INV = new URL('../../inventory', import.meta.url).pathname;
const root = process.getuid?.() === 0;
if (!root) console.warn('metis burn --host tests skipped: they need root (network namespaces, sshd, users, loop devices)');
if (!existsSync(METIS)) console.warn('metis burn --host tests skipped: dist/metis.js missing (npm run build)');

// A fresh token per run: a file holding it can only come from this run.
const PW = `remote-${randomBytes(6).toString('hex')}`;
const TOKEN = `K10${randomBytes(32).toString('hex')}::server:${PW}`;

describe.skipIf(!root || !existsSync(METIS))('metis burn --host / devices --host (real sshd in a namespace)', () => {
  let host: SshHost;
  let work = '';
  let inv = '';
  let img = '';
  let imgXz = '';
  let xzSha = '';
  let rootCache = '';
  const loops: string[] = [];
  const backingOf = new Map<string, string>();
  /**
   * The card's first MiB, read from its backing file (what the loop device wrote through to), after
   * checking the loop device still maps to that file: other tests on this machine attach and detach
   * loop devices too, and a reused number must fail loudly, not compare someone else's bytes.
   */
  const head = (dev: string) => {
    const back = execFileSync('losetup', ['-nO', 'BACK-FILE', dev], { encoding: 'utf8' }).trim();
    expect(back, `${dev} was detached or reassigned by another process`).toBe(backingOf.get(dev));
    return firstMiB(back);
  };
  const hex = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
  const log = () => join(work, 'ssh.log');
  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    // No CLI code cache in root's home from a test (vitest.config.ts).
    METIS_CODE_CACHE: process.env.METIS_CODE_CACHE,
    METIS_K3S_TOKEN: TOKEN,
    METIS_SSH_CONFIG: host.sshConfig,
    METIS_SSH: SSH_WRAPPER,
    METIS_TEST_SSH_LOG: log(),
    ...extra,
  });
  const common = () => ['--inventory', inv, '--cache', join(work, 'ws-cache')];
  /** SSH authentications the host's sshd has logged so far (its own log, one line each). */
  const auths = () => (host.log().match(/Accepted publickey for /g) ?? []).length;
  const loop = (sizeMiB: number, ro = false) => {
    const backing = join(work, `card-${loops.length}.bin`);
    execFileSync('dd', ['if=/dev/urandom', `of=${backing}`, 'bs=1M', `count=${Math.min(sizeMiB, 2)}`, 'status=none']);
    execFileSync('truncate', ['-s', `${sizeMiB}M`, backing]);
    const dev = execFileSync('losetup', ['-f', '--show', ...(ro ? ['-r'] : []), backing], { encoding: 'utf8' }).trim();
    loops.push(dev);
    backingOf.set(dev, backing);
    return dev;
  };
  const user = () => host.users[0]!;
  const userCache = () => join(user().home, '.cache/metis-flasher');
  /** Every place the flashing host writes: caches, temp dirs, homes. */
  const hostDirs = () => [rootCache, '/tmp', '/var/tmp', '/dev/shm', user().home, '/root/.cache/metis-flasher', host.dir];

  beforeAll(async () => {
    host = await startSshHost({ prefix: 'mrm' });
    // Not under /tmp: the cards live here, and /tmp is searched for the token.
    work = mkdtempSync('/run/metis-test/mrm-burn-');
    rootCache = join(work, 'host-cache');
    img = join(work, 'class.img');
    await makeDemoImage(img, work, { fat: 'own' });
    execFileSync('xz', ['-k', '-0', '-T1', img]);
    imgXz = `${img}.xz`;
    xzSha = hex(imgXz);
    inv = join(work, 'inv');
    cpSync(INV, inv, { recursive: true });
    appendFileSync(
      join(inv, 'cluster.yaml'),
      `flashers:\n  flash-root:\n    ssh: root@${host.alias}\n    cache: ${rootCache}\n  flash-user:\n    ssh: ${user().name}@${host.alias}\n`,
    );
  }, 300_000);
  afterAll(async () => {
    for (const l of loops) {
      try {
        // Only while it is still ours (the same backing file).
        if (execFileSync('losetup', ['-nO', 'BACK-FILE', l], { encoding: 'utf8' }).trim().startsWith(work)) execFileSync('losetup', ['-d', l]);
      } catch {
        /* already detached */
      }
    }
    await host?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  }, 120_000);

  it('burns a file on the host as root by flasher name; a second burn of the class sends no image bytes; one SSH authentication each', { timeout: 900_000 }, async () => {
    const target = join(work, 'out-1.img');
    const tmp = mkdtempSync(join(work, 'ws-tmp-'));
    const auth0 = auths();
    const r = await runMetis(['burn', 'titan-13', '--host', 'flash-root', '--to', target, '--image', imgXz, '--sha256', xzSha, '--yes', '--json', ...common()], { env: env({ TMPDIR: tmp }) });
    expect(r.code, r.err + r.out).toBe(0);
    const events = r.out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.find((e) => e.event === 'image-sent')).toMatchObject({ bytesSent: readFileSync(imgXz).length });
    const phases = new Set(events.filter((e) => e.event === 'progress').map((e) => e.phase));
    for (const p of ['sending', 'writing', 'verifying']) expect(phases).toContain(p);
    // A compressed image without a bmap names its size only at its end: received whole, then burned.
    expect(events.some((e) => e.event === 'image-sending')).toBe(false);
    expect(events.at(-1)).toMatchObject({ event: 'done', verified: true, host: 'flash-root', imageSha256: xzSha });
    // The write's own duration, measured on the host (it was reported as 0).
    expect(events.at(-1)!.durationMs).toBeGreaterThan(0);
    // The host's cache holds the image under its digest.
    expect(hex(join(rootCache, 'blobs/sha256', xzSha))).toBe(xzSha);
    const m = parseManifest(mtype(target, 'metis/node.yaml').toString('utf8')).manifest;
    expect(m.node.hostname).toBe('titan-13');
    expect(m.k3s?.token).toBe(TOKEN);
    expect(fsckBoot(target, work).status).toBe(0);
    expect(r.out + r.err).not.toContain(PW);
    // Probe, bundle, image and agent rode one connection, and its master is gone with its socket dir.
    expect(auths() - auth0).toBe(1);
    expect(readdirSync(tmp)).toEqual([]);

    const before = sshLog(log()).length;
    const auth1 = auths();
    const again = await runMetis(['burn', 'titan-15', '--host', 'flash-root', '--to', join(work, 'out-2.img'), '--image', imgXz, '--sha256', xzSha, '--yes', '--json', ...common()], { env: env({ TMPDIR: tmp }) });
    expect(again.code, again.err).toBe(0);
    expect(auths() - auth1).toBe(1);
    expect(readdirSync(tmp)).toEqual([]);
    const calls = sshLog(log()).slice(before);
    // One remote command (the master carries none): the probe found bundle and image there and
    // became the agent (probe.ts, fast=go), with the same checks and events as a separate agent.
    const commands = calls.map((c) => c.argv.join(' ')).filter((a) => /metis-probe|metis-ship|burn-agent/.test(a));
    expect(commands).toHaveLength(1);
    expect(commands[0]).toMatch(/metis-probe.*--target/);
    // The probe found the image in the host's cache: no receive command at all (the agent re-hashes
    // what it writes before the partition table).
    expect(calls.filter((c) => c.argv.join(' ').includes('burn-agent receive'))).toEqual([]);
    expect(again.out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => e.event === 'image-sent')).toMatchObject({ bytesSent: 0 });
    // No bundle re-shipped either; the only bytes sent are the agent's commands (manifest, pings).
    expect(calls.some((c) => c.argv.join(' ').includes('metis-ship'))).toBe(false);
    const total = calls.reduce((a, c) => a + c.sent, 0);
    expect(total).toBeLessThan(64 * 1024);
    expect(parseManifest(mtype(join(work, 'out-2.img'), 'metis/node.yaml').toString('utf8')).manifest.node.hostname).toBe('titan-15');
    for (const c of sshLog(log())) expect(c.argv.join(' ')).not.toContain(PW);
    expect(filesContaining(PW, hostDirs().filter((d) => d !== work))).toEqual([]);
  });

  it('the connection opens while the image is hashed here; a local refusal after it (a wrong --sha256) closes it: exit 4, no master or socket dir left, nothing sent', { timeout: 300_000 }, async () => {
    const tmp = mkdtempSync(join(work, 'ws-tmp-'));
    const before = sshLog(log()).length;
    const auth0 = auths();
    const wrong = 'f'.repeat(64);
    const r = await runMetis(['burn', 'titan-13', '--host', 'flash-root', '--to', join(work, 'never.img'), '--image', imgXz, '--sha256', wrong, '--yes', '--json', ...common()], { env: env({ TMPDIR: tmp }) });
    expect(r.code, r.err + r.out).toBe(4);
    expect(r.err).toMatch(/sha256/);
    // The master ran (it was started before the hash: the host saw the login) and is gone with its socket dir.
    expect(auths() - auth0).toBe(1);
    expect(readdirSync(tmp)).toEqual([]);
    // ("[C]": the pattern does not match pgrep's own shell.)
    expect(execFileSync('sh', ['-c', `pgrep -f -- '[C]ontrolPath=${tmp}' || true`], { encoding: 'utf8' }).trim()).toBe('');
    // No remote command ran: the master alone carries none.
    expect(sshLog(log()).slice(before).filter((c) => c.argv.some((a) => a.includes('burn-agent')))).toEqual([]);
    expect(existsSync(join(work, 'never.img'))).toBe(false);
  });

  it('the connection opens once cluster.yaml is read; a bad node file after it (exit 3, file and field named) closes it: no master or socket dir left, no remote command', { timeout: 300_000 }, async () => {
    const tmp = mkdtempSync(join(work, 'ws-tmp-'));
    const bad = join(work, 'inv-bad-node');
    cpSync(inv, bad, { recursive: true });
    const file = join(bad, 'nodes/titan-13.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('address: 192.168.22.13/24', 'address: 192.168.22.300/24'));
    const before = sshLog(log()).length;
    const r = await runMetis(['burn', 'titan-13', '--host', 'flash-root', '--to', join(work, 'never-2.img'), '--image', imgXz, '--sha256', xzSha, '--yes', '--inventory', bad, '--cache', join(work, 'ws-cache')], { env: env({ TMPDIR: tmp }) });
    expect(r.code, r.err + r.out).toBe(3);
    expect(r.err).toContain('titan-13.yaml');
    expect(r.err).toMatch(/address/);
    // The master was started from cluster.yaml's flashers (flash-root resolved by name) before the node file failed.
    expect(sshLog(log()).slice(before).length).toBeGreaterThan(0);
    expect(readdirSync(tmp)).toEqual([]);
    expect(execFileSync('sh', ['-c', `pgrep -f -- '[C]ontrolPath=${tmp}' || true`], { encoding: 'utf8' }).trim()).toBe('');
    expect(sshLog(log()).slice(before).filter((c) => c.argv.some((a) => /burn-agent|metis-probe/.test(a)))).toEqual([]);
    expect(existsSync(join(work, 'never-2.img'))).toBe(false);
  });

  it('a cached copy changed on the host is caught by the re-hash that feeds the write: exit 4, card made unbootable (head wiped, no table), copy dropped', { timeout: 900_000 }, async () => {
    const sha = hex(img);
    const warm = await runMetis(['burn', 'titan-13', '--host', 'flash-root', '--to', join(work, 'warm.img'), '--image', img, '--sha256', sha, '--yes', ...common()], { env: env() });
    expect(warm.code, warm.err).toBe(0);
    const cached = join(rootCache, 'blobs/sha256', sha);
    expect(hex(cached)).toBe(sha);
    // One byte changed deep in the cached copy (past the first MiB, in the root partition's range).
    const fd = openSync(cached, 'r+');
    writeSync(fd, Buffer.from([0xa5]), 0, 1, 40 * 1024 * 1024 + 123);
    closeSync(fd);
    const card = loop(128);
    const before = head(card);
    const r = await runMetis(['burn', 'titan-13', '--host', 'flash-root', '--device', card, '--image', img, '--sha256', sha, '--yes', ...common()], { env: env() });
    expect(r.code, r.err).toBe(4);
    expect(r.err).toMatch(/sha256 mismatch.*partition table was not written/);
    // As a local burn does (src/burner/write/burn.ts): the rest of the card holds bytes that failed
    // their check, so the first MiB is zeroed rather than left pointing at half-new partitions.
    expect(before).not.toBe(createHash('sha256').update(Buffer.alloc(1 << 20)).digest('hex'));
    expect(head(card)).toBe(createHash('sha256').update(Buffer.alloc(1 << 20)).digest('hex'));
    expect(existsSync(cached)).toBe(false);
    // The next burn sends the image again and succeeds.
    const again = await runMetis(['burn', 'titan-13', '--host', 'flash-root', '--device', card, '--image', img, '--sha256', sha, '--yes', '--json', ...common()], { env: env() });
    expect(again.code, again.err).toBe(0);
    expect((JSON.parse(again.out.trim().split('\n').find((l) => l.includes('"image-sent"'))!) as { bytesSent: number }).bytesSent).toBeGreaterThan(0);
    expect(hex(cached)).toBe(sha);
  });

  /** The CLI on a terminal (pty), the way the operator runs it; the sudo prompt is answered there. */
  const onTerminal = (args: string[], extra: NodeJS.ProcessEnv = {}) => runMetis(args, { env: env({ ...extra }), viaPty: true });
  const agentsOnHost = async () => (await host.pids()).length ? (await host.exec(['sh', '-c', `for p in ${(await host.pids()).join(' ')}; do tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null; echo; done`])).stdout.split('\n').filter((l) => l.includes('burn-agent')) : [];
  const noAgentWithin = async (ms: number) => {
    let left = await agentsOnHost();
    for (let t = 0; t < ms && left.length; t += 250) {
      await new Promise((r) => setTimeout(r, 250));
      left = await agentsOnHost();
    }
    return left;
  };

  /**
   * A first burn's image: the demo image with a 16 MiB file of random bytes on its FAT (read back
   * with mtools), xz-compressed: ~16 MiB on the wire, which the host's receive stores in 4 MiB
   * steps; with its bmap (bmaptool's, of the copy, whose holes the copy filled: everything mapped),
   * which names the decompressed size the target is judged against before writing.
   */
  let streamXz = '';
  let streamBmap = '';
  let streamData = Buffer.alloc(0);
  const streamImage = () => {
    if (streamXz) return streamXz;
    const raw = join(work, 'stream.img');
    cpSync(img, raw);
    streamData = randomBytes(16 * MIB);
    writeFileSync(join(work, 'random.bin'), streamData);
    execFileSync('mcopy', ['-i', `${raw}@@${BOOT_START * 512}`, join(work, 'random.bin'), '::random.bin'], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
    rmSync(join(work, 'random.bin'));
    streamBmap = join(work, 'stream.bmap');
    execFileSync('bmaptool', ['-q', 'create', '-o', streamBmap, raw], { stdio: 'ignore' });
    execFileSync('xz', ['-0', '-T1', raw]);
    streamXz = `${raw}.xz`;
    return streamXz;
  };
  const jsonEvents = (out: string) => out.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const tmpLeft = () => (existsSync(join(rootCache, 'tmp')) ? readdirSync(join(rootCache, 'tmp')) : []);
  /** Env for a transfer held after 8 MiB until the host writes the card (or `release` appears otherwise). */
  const heldMidway = (release: string, extra: NodeJS.ProcessEnv = {}) => env({ METIS_TEST_SSH_HOLD_AT: String(8 * MIB), METIS_TEST_SSH_HOLD_UNTIL: release, ...extra });
  /** Creates `release` once the agent reports written bytes; says whether that happened. */
  const releaseOnWrite = (release: string) => {
    const seen = { writing: false };
    return {
      seen,
      onOutput: (all: string) => {
        if (!seen.writing && /"phase":"writing","bytes":[1-9]/.test(all)) {
          seen.writing = true;
          writeFileSync(release, '');
        }
      },
    };
  };

  it('a first burn writes the card while the image still arrives (the transfer, held midway, goes on only once the host writes); the card judged by fsck.fat, mtools, e2fsck; the image cached, no temp file, no token on the host', { timeout: 900_000 }, async () => {
    const xz = streamImage();
    const sha = hex(xz);
    rmSync(join(rootCache, 'blobs/sha256', sha), { force: true });
    const card = loop(128);
    const release = join(work, `release-${randomBytes(4).toString('hex')}`);
    const w = releaseOnWrite(release);
    const r = await runMetis(['burn', 'titan-13', '--host', 'flash-root', '--device', card, '--image', xz, '--bmap', streamBmap, '--sha256', sha, '--yes', '--json', ...common()], { env: heldMidway(release), onOutput: w.onOutput });
    expect(r.code, r.err + r.out).toBe(0);
    expect(w.seen.writing).toBe(true);
    const events = jsonEvents(r.out);
    // The agent wrote bytes before the host had the whole image: impossible when the send came first.
    const firstWrite = events.findIndex((e) => e.event === 'progress' && e.phase === 'writing' && (e.bytes as number) > 0);
    const sent = events.findIndex((e) => e.event === 'image-sent');
    expect(firstWrite).toBeGreaterThan(-1);
    expect(sent).toBeGreaterThan(firstWrite);
    expect(events[sent]).toMatchObject({ bytesSent: readFileSync(xz).length });
    expect(events.at(-1)).toMatchObject({ event: 'done', verified: true, bytesSent: readFileSync(xz).length, imageSha256: sha });
    // The card, judged from its backing file's bytes.
    head(card);
    const bytes = backingOf.get(card)!;
    expect(fsckBoot(bytes, work).status).toBe(0);
    expect(parseManifest(mtype(bytes, 'metis/node.yaml').toString('utf8')).manifest.node.hostname).toBe('titan-13');
    const copied = join(work, 'random.back');
    execFileSync('mcopy', ['-n', '-i', `${bytes}@@${BOOT_START * 512}`, '::random.bin', copied], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
    expect(readFileSync(copied).equals(streamData)).toBe(true);
    rmSync(copied);
    const rootPart = join(work, 'root.part');
    const sectors = execFileSync('sfdisk', ['-d', bytes], { encoding: 'utf8' }).match(/start=\s*(\d+), size=\s*(\d+), type=83/)!;
    execFileSync('dd', [`if=${bytes}`, `of=${rootPart}`, 'bs=512', `skip=${sectors[1]}`, `count=${sectors[2]}`, 'status=none']);
    expect(execFileSync('e2fsck', ['-fn', rootPart], { encoding: 'utf8' })).toMatch(/clean|files/);
    rmSync(rootPart);
    // Stored under its digest by the receive; nothing else left behind.
    expect(hex(join(rootCache, 'blobs/sha256', sha))).toBe(sha);
    expect(await noAgentWithin(5000)).toEqual([]);
    expect(tmpLeft()).toEqual([]);
    expect(filesContaining(PW, hostDirs())).toEqual([]);
  });

  it.each<[string, number, RegExp]>([
    ['eof', 4, /sha256 mismatch.*stopped before the card's partition table was written/],
    ['kill', 7, /sending .* failed.*stopped before the card's partition table was written/],
  ])('a transfer that fails while the card is written (%s) stops the agent: exit %d, first MiB unchanged, no metis process or temp file left, nothing cached', { timeout: 900_000 }, async (cut, code, message) => {
    const xz = streamImage();
    const sha = hex(xz);
    rmSync(join(rootCache, 'blobs/sha256', sha), { force: true });
    const card = loop(128);
    const before = head(card);
    const release = join(work, `release-${randomBytes(4).toString('hex')}`);
    const w = releaseOnWrite(release);
    // eof: the image ends short after 8 MiB (the host's digest check refuses it); kill: the channel drops there.
    const r = await runMetis(['burn', 'titan-13', '--host', 'flash-root', '--device', card, '--image', xz, '--bmap', streamBmap, '--sha256', sha, '--yes', '--json', ...common()], { env: heldMidway(release, { METIS_TEST_SSH_CUT: cut }), onOutput: w.onOutput });
    expect(w.seen.writing, r.out + r.err).toBe(true);
    expect(r.code, r.err).toBe(code);
    expect(r.err).toMatch(message);
    expect(await noAgentWithin(30_000)).toEqual([]);
    expect(head(card)).toBe(before);
    expect(existsSync(join(rootCache, 'blobs/sha256', sha))).toBe(false);
    expect(tmpLeft()).toEqual([]);
    expect(filesContaining(PW, hostDirs())).toEqual([]);
  });

  it('a card too small for a first burn is refused before a byte is written (exit 24): followed (bmap), the transfer is stopped and leaves nothing; a compressed image without a bmap is received whole first, then refused', { timeout: 900_000 }, async () => {
    const xz = streamImage();
    const sha = hex(xz);
    rmSync(join(rootCache, 'blobs/sha256', sha), { force: true });
    const small = loop(16);
    const before = head(small);
    const r = await runMetis(['burn', 'titan-13', '--host', 'flash-root', '--device', small, '--image', xz, '--bmap', streamBmap, '--sha256', sha, '--yes', '--json', ...common()], { env: heldMidway(join(work, 'never-released')) });
    expect(r.code, r.err).toBe(24);
    expect(r.err).toMatch(/the image needs/);
    expect(jsonEvents(r.out).some((e) => e.event === 'image-sending')).toBe(true);
    expect(await noAgentWithin(30_000)).toEqual([]);
    expect(existsSync(join(rootCache, 'blobs/sha256', sha))).toBe(false);
    expect(tmpLeft()).toEqual([]);
    expect(head(small)).toBe(before);

    rmSync(join(rootCache, 'blobs/sha256', xzSha), { force: true });
    const whole = await runMetis(['burn', 'titan-13', '--host', 'flash-root', '--device', small, '--image', imgXz, '--sha256', xzSha, '--yes', '--json', ...common()], { env: env() });
    expect(whole.code, whole.err).toBe(24);
    expect(whole.err).toMatch(/the image needs/);
    const events = jsonEvents(whole.out);
    expect(events.some((e) => e.event === 'image-sending')).toBe(false);
    expect(events.find((e) => e.event === 'image-sent')).toMatchObject({ bytesSent: readFileSync(imgXz).length });
    expect(head(small)).toBe(before);
  });

  it('declining the confirmation while the image is being sent stops both: exit 5, the card untouched, no temp file, no process left', { timeout: 900_000 }, async () => {
    const xz = streamImage();
    const sha = hex(xz);
    rmSync(join(rootCache, 'blobs/sha256', sha), { force: true });
    const card = loop(128);
    const before = head(card);
    // Held midway for good: the answer comes while the transfer is still open.
    const r = await onTerminal(['burn', 'titan-13', '--host', 'flash-root', '--device', card, '--image', xz, '--bmap', streamBmap, '--sha256', sha, ...common()], {
      PTY_PROMPT: 'Type "yes" to continue',
      PTY_ANSWER: 'no',
      METIS_TEST_SSH_HOLD_AT: String(8 * MIB),
      METIS_TEST_SSH_HOLD_UNTIL: join(work, 'never-released'),
    });
    expect(r.code, r.out).toBe(5);
    expect(r.out).toMatch(/not confirmed/);
    expect(r.out.match(/Type "yes"/g)).toHaveLength(1);
    expect(await noAgentWithin(30_000)).toEqual([]);
    expect(head(card)).toBe(before);
    expect(existsSync(join(rootCache, 'blobs/sha256', sha))).toBe(false);
    expect(tmpLeft()).toEqual([]);
  });

  it('a non-root user: one sudo password prompt on the terminal, the card burned and judged by fsck.fat, mtype, e2fsck; no token on the host', { timeout: 900_000 }, async () => {
    const card = loop(128);
    const r = await onTerminal(['burn', 'titan-13', '--host', 'flash-user', '--device', card, '--image', img, '--yes', ...common()], { PTY_ANSWER: user().password });
    expect(r.code, r.out).toBe(0);
    expect(r.out.match(/password for/g)).toHaveLength(1);
    expect(r.out).toMatch(/burned titan-13 to .* on flash-user/);
    expect(r.out).not.toContain(user().password);
    expect(r.out).not.toContain(PW);
    // Judged from the card's backing file (its bytes), after checking the loop is still ours.
    head(card);
    const bytes = backingOf.get(card)!;
    const m = parseManifest(mtype(bytes, 'metis/node.yaml').toString('utf8')).manifest;
    expect(m.node.hostname).toBe('titan-13');
    expect(fsckBoot(bytes, work).status).toBe(0);
    // The ext4 root, judged from its own bytes.
    const rootPart = join(work, 'root.part');
    const sectors = execFileSync('sfdisk', ['-d', bytes], { encoding: 'utf8' }).match(/start=\s*(\d+), size=\s*(\d+), type=83/)!;
    execFileSync('dd', [`if=${bytes}`, `of=${rootPart}`, 'bs=512', `skip=${sectors[1]}`, `count=${sectors[2]}`, 'status=none']);
    expect(execFileSync('e2fsck', ['-fn', rootPart], { encoding: 'utf8' })).toMatch(/clean|files/);
    rmSync(rootPart);
    // The raw image went over the wire compressed and is stored under its digest in the user's cache.
    expect(hex(join(userCache(), 'blobs/sha256', hex(img)))).toBe(hex(img));
    const sent = sshLog(log()).filter((c) => c.argv.join(' ').includes('burn-agent receive') && c.argv.join(' ').includes('--gunzip'));
    expect(sent.at(-1)!.sent).toBeGreaterThan(0);
    expect(sent.at(-1)!.sent).toBeLessThan(readFileSync(img).length / 4);
    for (const c of sshLog(log())) {
      expect(c.argv.join(' ')).not.toContain(PW);
      expect(c.argv.join(' ')).not.toContain(user().password);
    }
    expect(filesContaining(PW, hostDirs())).toEqual([]);
    expect(filesContaining(user().password, hostDirs())).toEqual([]);
    expect(await noAgentWithin(5000)).toEqual([]);
  });

  it('a wrong sudo password: refused with exit 7 after one prompt, nothing written', { timeout: 900_000 }, async () => {
    const card = loop(128);
    const before = head(card);
    const r = await onTerminal(['burn', 'titan-13', '--host', 'flash-user', '--device', card, '--image', img, '--yes', ...common()], { PTY_ANSWER: 'not-the-password' });
    expect(r.code, r.out).toBe(7);
    expect(r.out).toMatch(/sudo refused/);
    expect(r.out.match(/password for/g)).toHaveLength(1);
    expect(head(card)).toBe(before);
    expect(await noAgentWithin(5000)).toEqual([]);
  });

  it('every refusal is evaluated on the host and keeps its exit code; nothing is written', { timeout: 900_000 }, async () => {
    const sysDisk = '/dev/' + execFileSync('sh', ['-c', 'lsblk -no PKNAME "$(findmnt -no SOURCE /)" | head -1'], { encoding: 'utf8' }).trim();
    const small = loop(4);
    const ro = loop(128, true);
    const mounted = loop(128);
    execFileSync('mkfs.ext4', ['-q', '-F', mounted]);
    const mnt = mkdtempSync(join(work, 'mnt-'));
    execFileSync('mount', [mounted, mnt]);
    try {
      // The cached image on the host, attached as a disk: the target contains the source.
      const cached = join(rootCache, 'blobs/sha256', xzSha);
      const holder = execFileSync('losetup', ['-f', '--show', cached], { encoding: 'utf8' }).trim();
      loops.push(holder);
      backingOf.set(holder, cached);
      const cases: Array<[string, number, RegExp]> = [
        ...(sysDisk !== '/dev/' && existsSync(sysDisk) ? [[sysDisk, 21, /holds this system/] as [string, number, RegExp]] : []),
        [mounted, 22, /mounted|in use/],
        [holder, 23, /source/],
        [small, 24, /the image needs/],
        [ro, 25, /read-only/],
      ];
      for (const [dev, code, msg] of cases) {
        // A mounted ext4 is written by the kernel itself (superblock, lazy inode-table init): not comparable.
        const before = existsSync(dev) && dev !== sysDisk && dev !== mounted ? head(dev) : '';
        const r = await runMetis(['burn', 'titan-13', '--host', 'flash-root', '--device', dev, '--image', imgXz, '--sha256', xzSha, '--yes', ...common()], { env: env() });
        expect(r.code, `${dev}: ${r.err}`).toBe(code);
        expect(r.err).toMatch(msg);
        expect(r.err).toMatch(/on root@/);
        // The local burn refuses the same target with the same code (except the source holder: locally the
        // source is the workstation's file, not the host's cached copy — that refusal only exists there).
        if (code !== 23) {
          const local = await runMetis(['burn', 'titan-13', '--device', dev, '--image', imgXz, '--sha256', xzSha, '--yes', ...common()], { env: env() });
          expect(local.code, `${dev} locally: ${local.err}`).toBe(code);
        }
        if (before) expect(head(dev), `${dev}: first MiB changed`).toBe(before);
      }
    } finally {
      execFileSync('umount', [mnt]);
    }
  });

  it('a host with too old a node: exit 7 naming what to install, nothing shipped or written', { timeout: 600_000 }, async () => {
    const u = user();
    const fake = join(u.home, 'old-node');
    mkdirSync(fake, { recursive: true });
    // A stand-in `node` reporting an old version, first in PATH for non-interactive ssh commands.
    writeFileSync(join(fake, 'node'), '#!/bin/sh\nprintf 16.20.2\n', { mode: 0o755 });
    const bashrc = join(u.home, '.bashrc');
    const saved = existsSync(bashrc) ? readFileSync(bashrc) : null;
    writeFileSync(bashrc, `PATH=${fake}:$PATH\n`);
    rmSync(userCache(), { recursive: true, force: true });
    const card = loop(128);
    const before = head(card);
    try {
      const r = await runMetis(['burn', 'titan-13', '--host', 'flash-user', '--device', card, '--image', img, '--yes', ...common()], { env: env() });
      expect(r.code, r.err).toBe(7);
      expect(r.err).toMatch(/node 16\.20\.2 .* too old: install Node\.js 18 or newer/);
      expect(existsSync(userCache())).toBe(false);
      expect(head(card)).toBe(before);
    } finally {
      if (saved) writeFileSync(bashrc, saved);
      else rmSync(bashrc, { force: true });
      rmSync(fake, { recursive: true, force: true });
    }
  });

  it('Ctrl-C mid-transfer and mid-write: first MiB untouched, no agent left on the host, no partial image kept', { timeout: 900_000 }, async () => {
    const card = loop(128);
    const before = head(card);
    // Mid-transfer: a fresh cache dir and a throttled upload (the counting ssh wrapper paces it).
    rmSync(rootCache, { recursive: true, force: true });
    const big = join(work, 'big.img');
    execFileSync('sh', ['-c', `cp --sparse=always ${img} ${big} && dd if=/dev/urandom of=${big} bs=1M seek=70 count=16 conv=notrunc status=none`]);
    const t = await runMetis(['burn', 'titan-13', '--host', 'flash-root', '--device', card, '--image', big, '--yes', ...common()], { env: env({ METIS_TEST_SSH_RATE: String(2 * 1024 * 1024), PTY_INTERRUPT_ON: 'sending the image to' }), viaPty: true });
    expect(t.code, t.out).toBe(6);
    expect(t.out).toMatch(/interrupted while sending the image/);
    expect(head(card)).toBe(before);
    expect(existsSync(join(rootCache, 'blobs/sha256', hex(big)))).toBe(false);
    expect(await noAgentWithin(10_000)).toEqual([]);
    const tmp = join(rootCache, 'tmp');
    expect(existsSync(tmp) ? readdirSync(tmp) : []).toEqual([]);

    // Mid-write: the card throttled to 1 MB/s (cgroup v1 blkio at the root), Ctrl-C once writing.
    const [maj, min] = execFileSync('lsblk', ['-dno', 'MAJ:MIN', card], { encoding: 'utf8' }).trim().split(':');
    const throttle = '/sys/fs/cgroup/blkio/blkio.throttle.write_bps_device';
    writeFileSync(throttle, `${maj}:${min} 1048576`);
    let midWrite = '';
    try {
      const w = await runMetis(['burn', 'titan-13', '--host', 'flash-root', '--device', card, '--image', big, '--yes', ...common()], { env: env({ PTY_INTERRUPT_ON: 'writing +[1-9][0-9]?%' }), viaPty: true });
      midWrite = w.out;
      expect(w.code, w.out).toBe(6);
      expect(w.out).toMatch(/interrupted/);
    } finally {
      writeFileSync(throttle, `${maj}:${min} 0`);
    }
    expect(await noAgentWithin(15_000)).toEqual([]);
    expect(head(card), midWrite).toBe(before);
    expect(filesContaining(PW, hostDirs())).toEqual([]);
  });

  it('a dropped connection mid-write stops the writer on the host (watchdog); first MiB untouched', { timeout: 900_000 }, async () => {
    const card = loop(128);
    const before = head(card);
    const [maj, min] = execFileSync('lsblk', ['-dno', 'MAJ:MIN', card], { encoding: 'utf8' }).trim().split(':');
    const throttle = '/sys/fs/cgroup/blkio/blkio.throttle.write_bps_device';
    writeFileSync(throttle, `${maj}:${min} 524288`);
    let dropped = false;
    try {
      const r = await runMetis(['burn', 'titan-13', '--host', 'flash-root', '--device', card, '--image', join(work, 'big.img'), '--yes', '--json', ...common()], {
        env: env(),
        onOutput: (all) => {
          if (!dropped && /"phase":"writing","bytes":[1-9]/.test(all)) {
            dropped = true;
            execFileSync('ip', ['link', 'set', host.link, 'down']);
          }
        },
      });
      expect(dropped, r.out + r.err).toBe(true);
      expect(r.code, r.err).not.toBe(0);
      expect(await noAgentWithin(40_000)).toEqual([]);
    } finally {
      writeFileSync(throttle, `${maj}:${min} 0`);
      execFileSync('ip', ['link', 'set', host.link, 'up']);
    }
    expect(head(card)).toBe(before);
  });

  it('devices --host lists the host disks (system disk marked); --wait-new proposes a card inserted meanwhile', { timeout: 600_000 }, async () => {
    const card = loop(64);
    const r = await runMetis(['devices', '--host', 'flash-user', '--json', '--inventory', inv], { env: env() });
    expect(r.code, r.err).toBe(0);
    const devs = JSON.parse(r.out) as Array<{ path: string; size: number; system: boolean }>;
    expect(devs.find((d) => d.path === card)).toMatchObject({ size: 64 * 1024 * 1024, system: false });
    expect(devs.some((d) => d.system)).toBe(true);

    const backing = join(work, 'inserted.bin');
    execFileSync('truncate', ['-s', '96M', backing]);
    let inserted = '';
    const authWait = auths();
    const w = runMetis(['devices', '--host', `root@${host.alias}`, '--wait-new', '--timeout', '90'], {
      env: env(),
      onOutput: (all) => {
        if (!inserted && all.includes('insert the card')) {
          inserted = execFileSync('losetup', ['-f', '--show', backing], { encoding: 'utf8' }).trim();
          loops.push(inserted);
        }
      },
    });
    const res = await w;
    expect(res.code, res.err).toBe(0);
    // The whole wait (one lsblk a second) rode one connection.
    expect(auths() - authWait).toBe(1);
    expect(inserted).not.toBe('');
    expect(res.out).toContain(`new disk on root@${host.alias}`);
    expect(res.out).toContain(`--device ${inserted}`);
  });
});
