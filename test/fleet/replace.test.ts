import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDemoImage } from '../../src/demo/image.js';
import { readBootFile } from '../../src/burner/fat/boot-file.js';
import { parseManifest } from '../../src/manifest/load.js';
import { metis } from '../burner/commands/run.js';
import { type KubeFixture, nodeObject, startKube } from '../helpers/kube.js';
import { type SshHost, startSshHost } from '../helpers/ssh-host.js';

// Real parts: Debian's sshd in a network namespace is the node (its files in a temp sysroot), the
// real age CLI judges the sealed files, the real kubectl talks to metis-kube-standin (a named
// stand-in API server: no kube-apiserver is installable here).
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('skip: replace/capture/wait tests need root (network namespace + sshd)');

const NODE = 'mrp-node';
const FRESH = 'mrp-fresh';
const VERSION = 'v1.31.5+k3s1';
const NODE_PASSWORD = `np-${randomBytes(12).toString('hex')}`;
const MACHINE_ID = randomBytes(16).toString('hex');
const IQN = `iqn.2004-10.com.ubuntu:01:${randomBytes(6).toString('hex')}`;

// Each step runs several real ssh and kubectl processes; on a loaded 2-core machine that takes a while.
describe.skipIf(!isRoot)('identity capture, replace and wait against a real sshd and the kube stand-in', { timeout: 240_000 }, () => {
  let host: SshHost;
  let kube: KubeFixture;
  let work = '';
  let inv = '';
  let sysroot = '';
  let key = '';
  let token = '';
  let img = '';
  let hostPrivate = '';
  const env = () => ({ ...host.env, HOME: join(work, 'home'), XDG_STATE_HOME: join(work, 'state'), SOPS_AGE_KEY_FILE: key, KUBECONFIG: kube.kubeconfig });
  const kc = () => ['--kubeconfig', kube.kubeconfig];
  /** Nothing printed may contain a secret: node password, token, or any line of the private host key. */
  const noSecrets = (...texts: string[]) => {
    const keyLines = hostPrivate.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'));
    for (const s of texts) for (const v of [NODE_PASSWORD, token, ...keyLines]) expect(s.includes(v), `leaked ${v.slice(0, 8)}…`).toBe(false);
  };

  function writeInventory(dir: string, o: { recipients?: boolean; version?: string; role?: 'agent' | 'server'; clusterInit?: boolean } = {}) {
    mkdirSync(join(dir, 'classes'), { recursive: true });
    mkdirSync(join(dir, 'nodes'), { recursive: true });
    const recipient = execFileSync('age-keygen', ['-y', key], { encoding: 'utf8' }).trim();
    writeFileSync(join(dir, 'token'), `${token}\n`, { mode: 0o600 });
    writeFileSync(
      join(dir, 'cluster.yaml'),
      [
        `serverUrl: ${kube.url}`,
        'token: file:token',
        'ssh:',
        `  port: ${host.port}`,
        '  authorizedKeys:',
        '    - user: root',
        `      keys: ["${readFileSync(`${host.identityFile}.pub`, 'utf8').trim()}"]`,
        ...(o.recipients === false ? [] : ['identity:', '  recipients:', `    - ${recipient}`]),
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'classes', 'lh.yaml'),
      ['arch: amd64', 'k3s:', `  role: ${o.role ?? 'agent'}`, `  version: ${o.version ?? VERSION}`, '  labels:', '    node.longhorn.io/create-default-disk: "config"', '  taints: ["dedicated=storage:NoSchedule"]', ''].join('\n'),
    );
    for (const n of [NODE, FRESH]) {
      writeFileSync(join(dir, 'nodes', `${n}.yaml`), [`hostname: ${n}`, 'class: lh', `address: ${n === NODE ? host.addr : '10.255.255.254'}/30`, ...(o.clusterInit ? ['k3s:', '  clusterInit: true'] : []), ''].join('\n'));
    }
  }

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'mrp-replace-'));
    host = await startSshHost({ prefix: 'mrp', users: [] });
    kube = await startKube({
      nodes: { [NODE]: nodeObject(NODE, { ready: false }), [FRESH]: nodeObject(FRESH, { ready: false }) },
      secrets: { [`kube-system/${FRESH}.node-password.k3s`]: { metadata: { name: `${FRESH}.node-password.k3s`, namespace: 'kube-system' }, data: { hash: 'x' } } },
    });
    token = `K10${createHash('sha256').update(readFileSync(kube.caFile)).digest('hex')}::server:${randomBytes(12).toString('hex')}`;
    key = join(work, 'age-key.txt');
    execFileSync('age-keygen', ['-o', key], { stdio: 'ignore' });
    // The node's root: its host key IS the key the namespace's sshd presents.
    sysroot = join(work, 'sysroot');
    for (const d of ['etc/ssh', 'etc/iscsi', 'etc/rancher/node', 'var/lib/metis/runs']) mkdirSync(join(sysroot, d), { recursive: true });
    hostPrivate = readFileSync(join(host.dir, 'host_ed25519'), 'utf8');
    copyFileSync(join(host.dir, 'host_ed25519'), join(sysroot, 'etc/ssh/ssh_host_ed25519_key'));
    copyFileSync(join(host.dir, 'host_ed25519.pub'), join(sysroot, 'etc/ssh/ssh_host_ed25519_key.pub'));
    writeFileSync(join(sysroot, 'etc/machine-id'), `${MACHINE_ID}\n`);
    writeFileSync(join(sysroot, 'etc/iscsi/initiatorname.iscsi'), `## generated\nInitiatorName=${IQN}\n`);
    writeFileSync(join(sysroot, 'etc/rancher/node/password'), `${NODE_PASSWORD}\n`, { mode: 0o600 });
    inv = join(work, 'inv');
    writeInventory(inv);
    img = join(work, 'class.img');
    await makeDemoImage(img, work, { fat: 'own' });
  }, 120_000);

  afterAll(async () => {
    await host?.stop();
    await kube?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('identity capture seals the node identity, 0600, openable by the age CLI; output holds no secret', async () => {
    const r = await metis(['identity', 'capture', NODE, '--inventory', inv, '--root', sysroot], { env: env() });
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(new RegExp(`${NODE}: captured .*identity/${NODE}\\.age \\(machine-id, initiator name, node password, ed25519 host key SHA256:`));
    const file = join(inv, 'identity', `${NODE}.age`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const plain = execFileSync('age', ['-d', '-i', key, file], { encoding: 'utf8' });
    expect(plain).toContain(`machineId: ${MACHINE_ID}`);
    expect(plain).toContain(`iscsiInitiatorName: ${IQN}`);
    expect(plain).toContain(`nodePassword: ${NODE_PASSWORD}`);
    expect(plain).toContain(host.hostKey);
    noSecrets(r.out, r.err, readFileSync(file, 'utf8'));
  });

  it('re-capture is idempotent; a rotated host key is a warning naming both fingerprints', async () => {
    const file = join(inv, 'identity', `${NODE}.age`);
    const before = readFileSync(file, 'utf8');
    const again = await metis(['identity', 'capture', NODE, '--inventory', inv, '--root', sysroot], { env: env() });
    expect(again.code, again.err).toBe(0);
    expect(again.out).toMatch(/unchanged/);
    expect(readFileSync(file, 'utf8')).toBe(before);

    const rotated = join(work, 'rotated');
    execFileSync('cp', ['-a', sysroot, rotated]);
    rmSync(join(rotated, 'etc/ssh/ssh_host_ed25519_key'));
    rmSync(join(rotated, 'etc/ssh/ssh_host_ed25519_key.pub'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(rotated, 'etc/ssh/ssh_host_ed25519_key')]);
    const rot = await metis(['identity', 'capture', NODE, '--inventory', inv, '--root', rotated], { env: env() });
    expect(rot.code, rot.err).toBe(0);
    expect(rot.out).toMatch(/updated/);
    expect(rot.err).toMatch(/WARNING: mrp-node: hostKeys\.ed25519 changed: SHA256:\S+ -> SHA256:\S+ \(the host key rotated/);
    noSecrets(rot.out, rot.err);
    // Back to the node's real identity.
    const back = await metis(['identity', 'capture', NODE, '--inventory', inv, '--root', sysroot], { env: env() });
    expect(back.code).toBe(0);
    expect(execFileSync('age', ['-d', '-i', key, file], { encoding: 'utf8' })).toContain(host.hostKey);
  });

  it('no recipients in cluster.yaml: an error naming the field, nothing written', async () => {
    const dir = join(work, 'inv-norecip');
    writeInventory(dir, { recipients: false });
    const r = await metis(['identity', 'capture', NODE, '--inventory', dir, '--root', sysroot], { env: env() });
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/cluster\.yaml: identity\.recipients: no age recipients/);
    expect(existsSync(join(dir, 'identity'))).toBe(false);
  });

  it('the manifest carries the escrowed identity; private key and password redacted in print', async () => {
    const r = await metis(['manifest', NODE, '--inventory', inv], { env: env() });
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/identity from escrow/);
    expect(r.out).toContain(MACHINE_ID);
    expect(r.out).toContain(host.hostKey);
    noSecrets(r.out, r.err);
    const fresh = await metis(['manifest', FRESH, '--inventory', inv], { env: env() });
    expect(fresh.err).toMatch(/mrp-fresh: no identity escrow .*NEW identity/);
  });

  const refusals: [string, (d: string) => string[], (d: string) => void, RegExp][] = [
    ['kubectl missing', () => [], () => {}, /kubectl not found/],
    ['kubectl unauthorized', (d) => ['--kubeconfig', join(d, 'bad-kubeconfig')], (d) => writeFileSync(join(d, 'bad-kubeconfig'), readFileSync(kube.kubeconfig, 'utf8').replace(kube.adminToken, 'wrong-token')), /credentials were refused/],
    ['node not in the cluster', () => ['mrp-absent'], (d) => writeFileSync(join(d, 'nodes', 'mrp-absent.yaml'), 'hostname: mrp-absent\nclass: lh\naddress: 10.255.255.250/30\n'), /mrp-absent is not a Node of this cluster/],
    ['version skew: four minors older', () => [], (d) => writeInventory(d, { version: 'v1.27.9+k3s1' }), /version skew: .*k3s\.version: the pinned k3s v1\.27\.9\+k3s1 is 4 minors older/],
    ['version skew: newer than the server', () => [], (d) => writeInventory(d, { version: 'v1.32.1+k3s1' }), /is newer than the API server v1\.31\.5\+k3s1/],
    ['clusterInit for a rejoining server', () => [], (d) => writeInventory(d, { role: 'server', clusterInit: true }), /k3s\.clusterInit: true would start a NEW cluster/],
    ['server whose etcd member is still listed', () => [], (d) => writeInventory(d, { role: 'server' }), /etcd/],
  ];
  it.each(refusals)('refuses before burning: %s', async (name, extra, setup, re) => {
    const dir = mkdtempSync(join(work, 'inv-ref-'));
    writeInventory(dir);
    setup(dir);
    const out = join(dir, 'card.img');
    const args = extra(dir);
    const nodeArg = args[0] === 'mrp-absent' ? 'mrp-absent' : FRESH;
    const flags = args[0] === 'mrp-absent' ? kc() : args.length ? args : kc();
    const e = name === 'kubectl missing' ? { ...env(), KUBECTL: '/nonexistent/kubectl' } : env();
    const r = await metis(['replace', nodeArg, '--to', out, '--image', img, '--yes', '--inventory', dir, ...flags], { env: e });
    expect(r.code, r.err).toBe(40);
    expect(r.err).toMatch(re);
    expect(existsSync(out)).toBe(false);
    expect(kube.state.nodes.has(FRESH)).toBe(true);
    noSecrets(r.out, r.err);
  });

  it('server: refuses while etcd would lose quorum, and while its member is listed', async () => {
    const etcd = (name: string, ready: boolean) => nodeObject(name, { ready, labels: { 'node-role.kubernetes.io/etcd': 'true' }, annotations: { 'etcd.k3s.cattle.io/node-name': `${name}-1a2b3c4d` } });
    const dir = mkdtempSync(join(work, 'inv-etcd-'));
    writeInventory(dir, { role: 'server' });
    const saved = kube.state.nodes.get(FRESH);
    try {
      kube.state.nodes.set(FRESH, etcd(FRESH, false));
      kube.state.nodes.set('mrp-s2', etcd('mrp-s2', true));
      kube.state.nodes.set('mrp-s3', etcd('mrp-s3', false));
      const lost = await metis(['replace', FRESH, '--to', join(dir, 'c.img'), '--image', img, '--yes', '--inventory', dir, ...kc()], { env: env() });
      expect(lost.code).toBe(40);
      expect(lost.err).toMatch(/etcd quorum: without mrp-fresh, 1 of 3 etcd members are Ready; quorum needs 2/);
      kube.state.nodes.set('mrp-s3', etcd('mrp-s3', true));
      const member = await metis(['replace', FRESH, '--to', join(dir, 'c.img'), '--image', img, '--yes', '--inventory', dir, ...kc()], { env: env() });
      expect(member.code).toBe(40);
      expect(member.err).toMatch(/etcd member: mrp-fresh is still an etcd member .*kubectl annotate node mrp-fresh etcd\.k3s\.cattle\.io\/remove=true/);
      expect(existsSync(join(dir, 'c.img'))).toBe(false);
    } finally {
      kube.state.nodes.set(FRESH, saved);
      kube.state.nodes.delete('mrp-s2');
      kube.state.nodes.delete('mrp-s3');
    }
  });

  it('a Ready node is not replaced without --force', async () => {
    kube.state.nodes.set(NODE, nodeObject(NODE, { ready: true }));
    try {
      const r = await metis(['replace', NODE, '--to', join(work, 'r.img'), '--image', img, '--yes', '--inventory', inv, ...kc()], { env: env() });
      expect(r.code).toBe(40);
      expect(r.err).toMatch(/Node mrp-node is Ready .*power it off before replacing it, or pass --force/);
    } finally {
      kube.state.nodes.set(NODE, nodeObject(NODE, { ready: false }));
    }
  });

  it('without escrow and without a terminal: not confirmed, nothing burned or deleted', async () => {
    const out = join(work, 'fresh-noconfirm.img');
    const r = await metis(['replace', FRESH, '--to', out, '--image', img, '--inventory', inv, ...kc()], { env: env() });
    expect(r.code).toBe(5);
    expect(r.err).toMatch(/then DELETE Node mrp-fresh from the cluster/);
    expect(existsSync(out)).toBe(false);
    expect(kube.state.nodes.has(FRESH)).toBe(true);
  });

  it('without escrow, confirmed: burns, then deletes the Node and its node-password secret', async () => {
    const out = join(work, 'fresh.img');
    const r = await metis(['replace', FRESH, '--to', out, '--image', img, '--inventory', inv, ...kc()], { env: env(), answer: 'yes' });
    expect(r.code, r.err).toBe(0);
    expect(r.asked).toEqual(['Replace mrp-fresh as planned? Type "yes" to continue: ']);
    expect(r.err).toMatch(/no identity escrow/);
    expect(kube.state.nodes.has(FRESH)).toBe(false);
    expect(kube.state.secrets.has(`kube-system/${FRESH}.node-password.k3s`)).toBe(false);
    expect(r.out).toMatch(/insert the card into mrp-fresh and power it on/);
  });

  let burnedHash = '';
  it('with escrow: keeps the Node, burns the escrowed identity, records the manifest hash, says what to do on site', async () => {
    const out = join(work, 'node.img');
    const r = await metis(['replace', NODE, '--to', out, '--image', img, '--yes', '--inventory', inv, ...kc()], { env: env() });
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/keep Node mrp-node: it rejoins with its escrowed identity/);
    expect(r.err).toMatch(/token CA hash matches the cluster/);
    expect(r.out).toContain('Next, on site: insert the card into mrp-node and power it on.');
    expect(kube.state.nodes.has(NODE)).toBe(true);
    const text = (await readBootFile(out, 'metis/node.yaml'))!;
    const m = parseManifest(text.toString('utf8')).manifest;
    expect(m.identity).toEqual({ machineId: MACHINE_ID, iscsiInitiatorName: IQN });
    expect(m.k3s?.nodePassword).toBe(NODE_PASSWORD);
    expect(m.ssh.hostKeys?.ed25519?.public).toBe(host.hostKey);
    burnedHash = createHash('sha256').update(text).digest('hex');
    const rec = JSON.parse(readFileSync(join(work, 'state', 'metis', 'burns', `${NODE}.json`), 'utf8'));
    expect(rec.manifestSha256).toBe(burnedHash);
    noSecrets(r.out, r.err);
  });

  it('wait: times out naming the first failing check, with the failed bootstrap task fetched over SSH', async () => {
    writeFileSync(join(sysroot, 'var/lib/metis/last-run.json'), JSON.stringify({ manifestHash: burnedHash, summary: { ok: 3, changed: 0, failed: 1, skipped: 0 }, tasks: [{ name: 'k3s join preflight', status: 'failed', reason: 'GET https://x/cacerts: connection refused' }] }));
    const r = await metis(['wait', NODE, '--timeout', '2s', '--interval', '1s', '--inventory', inv, '--state-dir', join(sysroot, 'var/lib/metis'), ...kc()], { env: env() });
    expect(r.code).toBe(41);
    expect(r.err).toMatch(/check "bootstrap converged for this burn's manifest [0-9a-f]{12}…" failed: last run failed 1 task/);
    expect(r.err).toMatch(/bootstrap task failed: k3s join preflight: GET https:\/\/x\/cacerts: connection refused/);
    expect(r.err).toMatch(/\[ok\] .* answers on tcp/);
    expect(r.err).toMatch(/\[ok\] SSH on port \d+, host key = escrowed key \(strict\)/);
  });

  it('wait: passes once every check holds (strict SSH against the escrowed key, Node, labels, taints, kubelet, Longhorn)', async () => {
    writeFileSync(join(sysroot, 'var/lib/metis/last-run.json'), JSON.stringify({ manifestHash: burnedHash, summary: { ok: 20, changed: 0, failed: 0, skipped: 0 }, tasks: [] }));
    kube.state.nodes.set(NODE, nodeObject(NODE, { ready: true, labels: { 'node.longhorn.io/create-default-disk': 'config' }, taints: [{ key: 'dedicated', value: 'storage', effect: 'NoSchedule' }], kubeletVersion: VERSION }));
    const lh = (ready: boolean) => ({
      apiVersion: 'longhorn.io/v1beta2',
      kind: 'Node',
      metadata: { name: NODE, namespace: 'longhorn-system' },
      spec: { disks: { 'disk-1': { path: '/mnt/astreae' } } },
      status: { conditions: [{ type: 'Ready', status: 'True' }, { type: 'Schedulable', status: 'True' }], diskStatus: { 'disk-1': { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }, { type: 'Schedulable', status: 'True' }] } } },
    });
    kube.state.longhornNodes.set(NODE, lh(false));
    const notYet = await metis(['wait', NODE, '--timeout', '1s', '--interval', '1s', '--inventory', inv, '--state-dir', join(sysroot, 'var/lib/metis'), ...kc()], { env: env() });
    expect(notYet.code).toBe(41);
    expect(notYet.err).toMatch(/Longhorn node Ready and Schedulable with its disks" failed: disks not Ready\+Schedulable: disk-1 \(\/mnt\/astreae\)/);
    kube.state.longhornNodes.set(NODE, lh(true));
    const r = await metis(['wait', NODE, '--timeout', '120s', '--interval', '1s', '--inventory', inv, '--state-dir', join(sysroot, 'var/lib/metis'), ...kc()], { env: env() });
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/mrp-node is back as itself \(host key = escrowed key\): 7 checks hold/);
    noSecrets(r.out, r.err);
  });

  it('wait: a node presenting another host key than the escrowed one fails the SSH check', async () => {
    // Escrow a different identity: the sshd's real key no longer matches it.
    const other = join(work, 'other-root');
    execFileSync('cp', ['-a', sysroot, other]);
    rmSync(join(other, 'etc/ssh/ssh_host_ed25519_key'));
    rmSync(join(other, 'etc/ssh/ssh_host_ed25519_key.pub'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(other, 'etc/ssh/ssh_host_ed25519_key')]);
    const cap = await metis(['identity', 'capture', NODE, '--inventory', inv, '--root', other], { env: env() });
    expect(cap.code, cap.err).toBe(0);
    const r = await metis(['wait', NODE, '--timeout', '1s', '--interval', '1s', '--inventory', inv, '--state-dir', join(sysroot, 'var/lib/metis'), ...kc()], { env: env() });
    expect(r.code).toBe(41);
    expect(r.err).toMatch(/check "SSH on port \d+, host key = escrowed key \(strict\)" failed: host key is NOT the escrowed one/);
  });
  it('wait without escrow: the operator\'s known_hosts holds the old card\'s key; the new key is trusted on first use, shown, and known_hosts left alone', async () => {
    const noEscrow = join(work, 'inv-noescrow');
    execFileSync('cp', ['-a', inv, noEscrow]);
    rmSync(join(noEscrow, 'identity', `${NODE}.age`));
    // The operator pinned the OLD card's key for this address, strictly (the helper's config says yes).
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(work, 'old-card-key')]);
    const knownHosts = join(work, 'operator-known_hosts');
    const pinned = `[${host.addr}]:${host.port} ${readFileSync(join(work, 'old-card-key.pub'), 'utf8').split(' ').slice(0, 2).join(' ')}\n`;
    writeFileSync(knownHosts, pinned);
    const config = join(work, 'operator-ssh_config');
    writeFileSync(config, readFileSync(host.env.METIS_SSH_CONFIG!, 'utf8').replace(/UserKnownHostsFile \S+/, `UserKnownHostsFile ${knownHosts}`));
    const e = { ...env(), METIS_SSH_CONFIG: config };
    // The operator's own ssh refuses the new card: what `metis wait` had used before.
    const strict = spawnSync('ssh', ['-F', config, '-o', 'ConnectTimeout=5', host.addr, 'true'], { encoding: 'utf8', env: e });
    expect(strict.status).toBe(255);
    expect(strict.stderr).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED/);

    const r = await metis(['wait', NODE, '--timeout', '60s', '--interval', '1s', '--inventory', noEscrow, '--state-dir', join(sysroot, 'var/lib/metis'), ...kc()], { env: e });
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/mrp-node: no identity escrow: the node has a new identity; its SSH host key cannot be proven and is trusted on first use/);
    expect(r.err).toMatch(/\[ok\] SSH on port \d+ \(no escrow: host key trusted on first use\)/);
    expect(r.out).toMatch(/mrp-node is back \(new identity\): 7 checks hold/);
    const fp = execFileSync('ssh-keygen', ['-lf', join(host.dir, 'host_ed25519.pub')], { encoding: 'utf8' }).split(' ')[1]!;
    expect(r.out).toContain(`mrp-node: new SSH host key (trusted on first use, not proven): ssh-ed25519 ${fp}\n`);
    expect(r.out).toContain(`ssh-keygen -R '[${host.addr}]:${host.port}'`);
    expect(readFileSync(knownHosts, 'utf8')).toBe(pinned);
    noSecrets(r.out, r.err);
  });
});
