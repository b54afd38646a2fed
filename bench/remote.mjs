// bench:remote — `metis burn --host` against the anchors on a flashing host: a network namespace
// running Debian's sshd (test/helpers/ssh-host.ts), the card an emulated SD card there (a loop
// device throttled by cgroup-v1 blkio to 30 MB/s write, 90 MB/s read). Anchors:
//   (a) zstd -dc IMG.zst | ssh HOST dd of=DEV bs=4M oflag=direct
//   (b) bmaptool copy on the host with the image already there (+ the transfer of IMG.zst for a first burn),
//       run as the operator runs it from the workstation, `ssh HOST bmaptool copy …` (one SSH login), and
//       without any SSH (`ip netns exec`, as if typed on the host's console) for attribution
// Root logins on the host get an empty ~/.bashrc (BENCH_LOGIN=machine keeps this machine's, whose
// `pyenv init` costs every SSH command ~1 s here and that a flashing host does not have).
// BENCH_REPEATS=N (default 3): the repeat-burn rows (and their anchors, and the local burn) are run N
// rounds in turn and each row is its median; BENCH_TRACE=1 adds one traced repeat burn.
// Needs root and a built dist/metis.js. Prints times and ratios; asserts nothing (not part of CI).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, statSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emulatedCard } from './lib/card.mjs';
import { makeClassImage } from './lib/class-image.mjs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const MIB = 1024 * 1024;
const repo = fileURLToPath(new URL('..', import.meta.url));
const metis = join(repo, 'dist/metis.js');

if (process.getuid?.() !== 0) {
  console.error('bench:remote needs root (namespaces, sshd, loop devices, blkio throttling)');
  process.exit(2);
}

const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'], ...opts });
const seconds = async (fn) => {
  const t = process.hrtime.bigint();
  const r = await fn();
  return [Number(process.hrtime.bigint() - t) / 1e9, r];
};

const work = mkdtempSync(join(tmpdir(), 'metis-bench-remote-'));
let host = null;
let card = null;
const cleanup = async () => {
  card?.release();
  if (host) await host.stop();
  rmSync(work, { recursive: true, force: true });
};
process.on('SIGINT', () => {
  cleanup().finally(() => process.exit(130));
});

try {
  const helper = join(work, 'ssh-host.mjs');
  await build({ entryPoints: [join(repo, 'test/helpers/ssh-host.ts')], bundle: true, platform: 'node', format: 'esm', outfile: helper, logLevel: 'warning',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" } });
  const { startSshHost } = await import(pathToFileURL(helper).href);

  // 640 MiB, MBR, 64 MiB FAT32 boot with 16 MiB of files, ext4 root with ~200 MiB of real files
  // (a tar of /usr/share: compresses like an OS image does).
  console.log('building a 640 MiB test image …');
  const img = makeClassImage(work, 640, 200);
  const bmap = join(work, 'class.bmap');
  sh('bmaptool', ['-q', 'create', '-o', bmap, img]);
  sh('zstd', ['-q', '-T0', '-3', '-f', img]);
  const zst = `${img}.zst`;
  const mapped = /<MappedBlocksCount>\s*(\d+)/.exec(sh('cat', [bmap], { encoding: 'utf8' }))[1] * 4096;
  console.log(`image 640 MiB, bmap maps ${(mapped / MIB).toFixed(1)} MiB, zstd -3 ${(statSync(zst).size / MIB).toFixed(1)} MiB`);

  const cleanLogin = process.env.BENCH_LOGIN !== 'machine';
  host = await startSshHost({ prefix: 'mrmb', users: [], login: cleanLogin ? 'empty' : 'machine' });
  console.log(`root's login environment on the host: ${cleanLogin ? 'an empty ~/.bashrc (BENCH_LOGIN=machine: this machine\'s)' : "this machine's ~/.bashrc"}`);
  const env = { ...process.env, METIS_SSH_CONFIG: host.sshConfig, METIS_K3S_TOKEN: `K10${'ab'.repeat(32)}::server:bench-pw` };
  const ssh = (cmd, input) => execFileSync('ssh', ['-F', host.sshConfig, host.alias, cmd], { stdio: [input ?? 'ignore', 'pipe', 'inherit'] });

  // The emulated card, on the host.
  card = emulatedCard(work, 704);
  const { loop, fresh } = card;
  console.log(`flashing host ${host.alias} (namespace ${host.ns}); ${card.describe}`);
  const hostDir = join(work, 'on-host');
  const hostCache = join(work, 'host-cache');
  const inv = join(work, 'inv');
  sh('cp', ['-r', join(repo, 'inventory'), inv]);
  writeFileSync(join(inv, 'cluster.yaml'), `${execFileSync('cat', [join(inv, 'cluster.yaml')], { encoding: 'utf8' })}flashers:\n  bench:\n    ssh: root@${host.alias}\n    cache: ${hostCache}\n`);
  const burnArgs = ['burn', 'titan-13', '--host', 'bench', '--device', loop, '--image', zst, '--bmap', bmap, '--yes', '--inventory', inv, '--cache', join(work, 'ws-cache')];
  const runMetis = (extra = []) => sh('node', [metis, ...burnArgs, ...extra], { env, stdio: ['ignore', 'pipe', 'pipe'] });

  const rows = [];
  fresh();
  const [tDd] = await seconds(() => sh('sh', ['-c', `zstd -dc ${zst} | ssh -F ${host.sshConfig} ${host.alias} dd of=${loop} bs=4M oflag=direct status=none`]));
  rows.push(['(a) zstd -dc | ssh dd oflag=direct', tDd]);
  const [tXfer] = await seconds(() => {
    const fd = openSync(zst, 'r');
    try {
      ssh(`mkdir -p ${hostDir} && cat > ${hostDir}/class.img.zst`, fd);
      ssh(`cat > ${hostDir}/class.bmap`, openSync(bmap, 'r'));
    } finally {
      closeSync(fd);
    }
  });
  rows.push(['transfer IMG.zst + bmap over ssh', tXfer]);
  const bmapHost = () => host.exec(['bmaptool', '-q', 'copy', '--bmap', `${hostDir}/class.bmap`, `${hostDir}/class.img.zst`, loop], { reject: true });
  const bmapSsh = () => ssh(`bmaptool -q copy --bmap ${hostDir}/class.bmap ${hostDir}/class.img.zst ${loop}`);
  const runLocal = () => sh('node', [metis, 'burn', 'titan-13', '--device', loop, '--image', zst, '--bmap', bmap, '--yes', '--inventory', inv, '--cache', join(work, 'ws-cache')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  fresh();
  const [tFirst] = await seconds(() => runMetis());
  // The rows a repeat burn is judged by, BENCH_REPEATS rounds (default 3) in turn, each row's median:
  // one run of each moves by ±0.15 s between rounds on this machine, as much as the gap being measured.
  const rounds = Math.max(1, Number(process.env.BENCH_REPEATS ?? 3));
  const samples = { bmapHost: [], bmapSsh: [], repeat: [], repeatNv: [], local: [] };
  for (let i = 0; i < rounds; i++) {
    for (const [k, f] of [['bmapSsh', bmapSsh], ['repeat', () => runMetis()], ['bmapHost', bmapHost], ['repeatNv', () => runMetis(['--no-verify'])], ['local', runLocal]]) {
      fresh();
      samples[k].push((await seconds(f))[0]);
    }
  }
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const [tBmap, tBmapSsh, tRepeat, tRepeatNv, tLocal] = ['bmapHost', 'bmapSsh', 'repeat', 'repeatNv', 'local'].map((k) => median(samples[k]));
  const each = (k) => (rounds > 1 ? `   (median of ${samples[k].map((t) => t.toFixed(2)).join(', ')})` : '');
  rows.push(['(b) bmaptool copy on the host (no SSH)', tBmap, each('bmapHost')]);
  rows.push(['(b) ssh HOST bmaptool copy', tBmapSsh, each('bmapSsh')]);
  rows.push(['metis burn --host, first (sends image)', tFirst]);
  rows.push(['metis burn --host, repeat (cached)', tRepeat, each('repeat')]);
  rows.push(['metis burn --host, repeat --no-verify', tRepeatNv, each('repeatNv')]);

  // BENCH_TRACE=1: one more repeat burn with --json, each event's time since the CLI started (where the remote overhead goes).
  if (process.env.BENCH_TRACE) {
    fresh();
    const t0 = BigInt(Date.now()) * 1000000n;
    const out = execFileSync('sh', ['-c', 'node "$@" | while IFS= read -r l; do printf "%s %s\\n" "$(date +%s%N)" "$l"; done', 'sh', metis, ...burnArgs, '--json'], { env, encoding: 'utf8', maxBuffer: 1 << 26 });
    let last = '';
    for (const line of out.split('\n').filter(Boolean)) {
      const [ns, ...rest] = line.split(' ');
      const ev = rest.join(' ');
      const key = /"event":"(\w+)"(?:,"(?:stage|phase)":"([\w-]+)")?/.exec(ev)?.slice(1).filter(Boolean).join(' ') ?? ev.slice(0, 40);
      if (key === last) continue;
      last = key;
      console.log(`  trace ${((Number(BigInt(ns) - t0)) / 1e6).toFixed(0).padStart(6)} ms  ${key}`);
    }
  }

  // Attribution: the same burn run locally on this machine (no SSH), in the rounds above: what is left is the remote overhead.
  rows.push(['metis burn (local, same card, no SSH)', tLocal, each('local')]);

  console.log('');
  for (const [name, t, note] of rows) console.log(`${name.padEnd(40)} ${t.toFixed(2).padStart(7)} s${note ?? ''}`);
  console.log(`ratio first burn / (transfer + ssh bmaptool) ${(tFirst / (tXfer + tBmapSsh)).toFixed(3)}  (target ≤ 1.1)`);
  console.log(`ratio repeat burn / ssh bmaptool             ${(tRepeat / tBmapSsh).toFixed(3)}  (target ≤ 1.05; metis also reads the card back, bmaptool does not)`);
  console.log(`ratio repeat --no-verify / ssh bmaptool      ${(tRepeatNv / tBmapSsh).toFixed(3)}`);
  console.log(`  the same against bmaptool with no SSH at all: first ${(tFirst / (tXfer + tBmap)).toFixed(3)}, repeat ${(tRepeat / tBmap).toFixed(3)}, repeat --no-verify ${(tRepeatNv / tBmap).toFixed(3)}`);
  console.log(`ratio (a) ssh dd / metis first burn          ${(tDd / tFirst).toFixed(2)}×`);
  console.log(`remote overhead (repeat − local)             ${(tRepeat - tLocal).toFixed(2)} s; local burn / bmaptool ${(tLocal / tBmap).toFixed(3)}`);
} finally {
  await cleanup();
}
