import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDemoImage } from '../../src/burner/demo-image.js';
import { parseManifest } from '../../src/manifest/load.js';
import { fsckBoot, mtype } from '../burner/fixtures.js';
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
  const hex = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
  const log = () => join(work, 'ssh.log');
  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    METIS_K3S_TOKEN: TOKEN,
    METIS_SSH_CONFIG: host.sshConfig,
    METIS_SSH: SSH_WRAPPER,
    METIS_TEST_SSH_LOG: log(),
    ...extra,
  });
  const common = () => ['--inventory', inv, '--cache', join(work, 'ws-cache')];
  const loop = (sizeMiB: number, ro = false) => {
    const backing = join(work, `card-${loops.length}.bin`);
    execFileSync('dd', ['if=/dev/urandom', `of=${backing}`, 'bs=1M', `count=${Math.min(sizeMiB, 2)}`, 'status=none']);
    execFileSync('truncate', ['-s', `${sizeMiB}M`, backing]);
    const dev = execFileSync('losetup', ['-f', '--show', ...(ro ? ['-r'] : []), backing], { encoding: 'utf8' }).trim();
    loops.push(dev);
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
  });
  afterAll(async () => {
    for (const l of loops) execFileSync('losetup', ['-d', l]);
    await host?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('burns a file on the host as root by flasher name; a second burn of the class sends no image bytes', { timeout: 300_000 }, async () => {
    const target = join(work, 'out-1.img');
    const r = await runMetis(['burn', 'titan-13', '--host', 'flash-root', '--to', target, '--image', imgXz, '--sha256', xzSha, '--yes', '--json', ...common()], { env: env() });
    expect(r.code, r.err + r.out).toBe(0);
    const events = r.out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.find((e) => e.event === 'image-sent')).toMatchObject({ bytesSent: readFileSync(imgXz).length });
    const phases = new Set(events.filter((e) => e.event === 'progress').map((e) => e.phase));
    for (const p of ['sending', 'rehashing', 'writing', 'verifying']) expect(phases).toContain(p);
    expect(events.at(-1)).toMatchObject({ event: 'done', verified: true, host: 'flash-root', imageSha256: xzSha });
    // The host's cache holds the image under its digest.
    expect(hex(join(rootCache, 'blobs/sha256', xzSha))).toBe(xzSha);
    const m = parseManifest(mtype(target, 'metis/node.yaml').toString('utf8')).manifest;
    expect(m.node.hostname).toBe('titan-13');
    expect(m.k3s?.token).toBe(TOKEN);
    expect(fsckBoot(target, work).status).toBe(0);
    expect(r.out + r.err).not.toContain(PW);

    const before = sshLog(log()).length;
    const again = await runMetis(['burn', 'titan-15', '--host', 'flash-root', '--to', join(work, 'out-2.img'), '--image', imgXz, '--sha256', xzSha, '--yes', '--json', ...common()], { env: env() });
    expect(again.code, again.err).toBe(0);
    const calls = sshLog(log()).slice(before);
    const receive = calls.filter((c) => c.argv.join(' ').includes('burn-agent receive'));
    expect(receive).toHaveLength(1);
    expect(receive[0]!.sent).toBe(0);
    // No bundle re-shipped either; the only bytes sent are the agent's commands (manifest, pings).
    expect(calls.some((c) => c.argv.join(' ').includes('metis-ship'))).toBe(false);
    const total = calls.reduce((a, c) => a + c.sent, 0);
    expect(total).toBeLessThan(64 * 1024);
    expect(parseManifest(mtype(join(work, 'out-2.img'), 'metis/node.yaml').toString('utf8')).manifest.node.hostname).toBe('titan-15');
    for (const c of sshLog(log())) expect(c.argv.join(' ')).not.toContain(PW);
    expect(filesContaining(PW, hostDirs().filter((d) => d !== work))).toEqual([]);
  });
});
