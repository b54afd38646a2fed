// bench:burn — what an operator runs, `node dist/metis.js burn …`, against bmaptool with the same
// .bmap, in the same run, on an emulated SD card: a loop device throttled by cgroup-v1 blkio to
// 30 MB/s write and 90 MB/s read (the throttle is removed again on exit, SIGINT and SIGTERM).
// Sources: a raw file, a .xz file, and a .zst pulled from Debian's docker-registry on loopback
// (cache cold, then warm). Metis runs without NODE_EXTRA_CA_CERTS, as under sudo (bench/lib/env.mjs).
// Needs root. Prints times and ratios; asserts nothing (not part of CI).
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync, statSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeClassImage } from './lib/class-image.mjs';
import { READ_BPS, WRITE_BPS, emulatedCard } from './lib/card.mjs';
import { benchEnv, extraCaNote } from './lib/env.mjs';
import { fileURLToPath } from 'node:url';

const MIB = 1024 * 1024;
const repo = fileURLToPath(new URL('..', import.meta.url));
const metisBin = join(repo, 'dist/metis.js');

if (process.getuid?.() !== 0) {
  console.error('bench:burn needs root (loop devices, blkio throttling)');
  process.exit(2);
}

const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'], maxBuffer: 1 << 26, ...opts });
const seconds = (fn) => {
  const t = process.hrtime.bigint();
  const r = fn();
  return [Number(process.hrtime.bigint() - t) / 1e9, r];
};

const work = mkdtempSync(join(tmpdir(), 'metis-bench-burn-'));
let card = null;
let registry = null;
const cleanup = () => {
  card?.release();
  if (registry && registry.exitCode === null) registry.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
};
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    cleanup();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });
}

const freePort = () => new Promise((res, rej) => {
  const s = createServer();
  s.once('error', rej);
  s.listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => res(port));
  });
});

try {
  console.log('building dist/ …');
  sh('node', [join(repo, 'scripts/build.mjs')], { stdio: ['ignore', 'ignore', 'inherit'] });

  // 1 GiB, MBR, 64 MiB FAT32 boot with 16 MiB of files, ext4 root with ~240 MiB of real files
  // (a tar of /usr/share: text, images, binaries — compresses like an OS image does).
  console.log('building a 1 GiB test image …');
  const img = makeClassImage(work, 1024, 240);
  // One block map for every tool: bmaptool's own, beside the image as `metis image build` puts it.
  const bmap = join(work, 'class.img.bmap');
  sh('bmaptool', ['-q', 'create', '-o', bmap, img]);
  const mapped = Number(/<MappedBlocksCount>\s*(\d+)/.exec(readFileSync(bmap, 'utf8'))[1]) * 4096;
  console.log('compressing: xz -T0 -3, zstd -T0 -6 …');
  sh('xz', ['-T0', '-3', '-k', '-f', img]);
  sh('zstd', ['-q', '-T0', '-6', '-f', img, '-o', `${img}.zst`]);

  // The inventory the CLI burns from (the example lab; its token from the environment).
  const inv = join(work, 'inventory');
  cpSync(join(repo, 'inventory'), inv, { recursive: true });
  const { env: base, extraCa } = benchEnv();
  if (extraCa !== undefined) console.log(extraCaNote(extraCa));
  const env = { ...base, METIS_K3S_TOKEN: `K10${'ab'.repeat(32)}::server:bench` };
  const metis = (args) => sh('node', [metisBin, ...args], { env, stdio: ['ignore', 'ignore', 'inherit'] });

  // The registry, and the .zst pushed with its block map by `metis image push`.
  const port = await freePort();
  writeFileSync(join(work, 'registry.yml'), `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(work, 'registry')}\nhttp:\n  addr: 127.0.0.1:${port}\n`);
  registry = spawn('/usr/bin/docker-registry', ['serve', join(work, 'registry.yml')], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.ok, () => false)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const ref = `oci://127.0.0.1:${port}/bench/class:v1`;
  metis(['image', 'push', `${img}.zst`, ref]);

  card = emulatedCard(work, 1088);
  const { loop, fresh } = card;
  console.log(card.describe);

  const timed = (name, fn) => {
    fresh();
    const [t] = seconds(fn);
    console.log(`${name.padEnd(52)} ${t.toFixed(2).padStart(7)} s`);
    return t;
  };
  const burnTo = (image, extra = []) => ['burn', 'titan-13', '--device', loop, '--image', image, '--yes', '--inventory', inv, ...extra];
  const cold = join(work, 'cache-cold');

  // Untimed: the CLI's first `burn` writes its V8 code cache (docs/burner.md), as bmaptool's first
  // run once compiled its .pyc files; the timed runs are an operator's later burns.
  metis(['burn', 'titan-13', '--to', join(work, 'warm-up.img'), '--image', img, '--bmap', bmap, '--yes', '--no-verify', '--inventory', inv, '--cache', join(work, 'cache-warm-up')]);
  rmSync(join(work, 'warm-up.img'));
  console.log(`\nimage 1024 MiB, bmap maps ${(mapped / MIB).toFixed(1)} MiB; .xz ${(statSync(`${img}.xz`).size / MIB).toFixed(1)} MiB, .zst ${(statSync(`${img}.zst`).size / MIB).toFixed(1)} MiB\n`);
  const tBmap = timed('bmaptool copy --bmap (raw)', () => sh('bmaptool', ['-q', 'copy', '--bmap', bmap, img, loop]));
  const tRaw = timed('metis burn --no-verify (raw, same bmap)', () => metis(burnTo(img, ['--bmap', bmap, '--no-verify', '--cache', cold])));
  const tRawV = timed('metis burn (raw, same bmap, verify)', () => metis(burnTo(img, ['--bmap', bmap, '--cache', cold])));
  const tBmapZst = timed('bmaptool copy --bmap (.zst)', () => sh('bmaptool', ['-q', 'copy', '--bmap', bmap, `${img}.zst`, loop]));
  const tOciCold = timed('metis burn --no-verify (oci .zst, cache cold)', () => metis(burnTo(ref, ['--no-verify', '--cache', cold])));
  const tOciWarm = timed('metis burn --no-verify (oci .zst, cache warm)', () => metis(burnTo(ref, ['--no-verify', '--cache', cold])));
  const tOciColdV = timed('metis burn (oci .zst, cache cold, verify)', () => metis(burnTo(ref, ['--cache', join(work, 'cache-cold2')])));

  // .xz, unthrottled: the decompressor alone against the whole CLI burn to an image file, in
  // alternating rounds (BENCH_XZ_ROUNDS, default 3): on a shared 2-core VM one pair of ~4 s runs
  // moves by ±10 %, and the machine drifts between rounds (both commands of a round slower
  // together). So the row is paired: the median of each round's metis ÷ xz, every round's ratio
  // printed; the ratio of the two medians (unpaired, drift included) is printed beside it.
  const rounds = Math.max(1, Number(process.env.BENCH_XZ_ROUNDS ?? 3));
  const out = join(work, 'from-xz.img');
  const toFile = (extra) => ['burn', 'titan-13', '--to', out, '--image', `${img}.xz`, '--yes', '--inventory', inv, '--cache', cold, ...extra];
  const xzAlone = [];
  const xzBurn = [];
  for (let r = 1; r <= rounds; r++) {
    xzAlone.push(timed(`xz -dc -T0 > /dev/null (round ${r})`, () => sh('sh', ['-c', `xz -dc -T0 ${img}.xz > /dev/null`])));
    xzBurn.push(timed(`metis burn --no-verify (.xz → file, round ${r})`, () => metis(toFile(['--no-verify']))));
    rmSync(out);
  }
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const tXz = median(xzAlone);
  const tXzBurn = median(xzBurn);
  const xzRatios = xzBurn.map((t, i) => t / xzAlone[i]);
  console.log(`.xz rounds, metis ÷ xz: ${xzRatios.map((r) => r.toFixed(3)).join(' ')}; medians ${tXzBurn.toFixed(2)} ÷ ${tXz.toFixed(2)} s`);
  const tXzBurnV = timed('metis burn (.xz → file, verify)', () => metis(toFile([])));

  const floor = mapped / WRITE_BPS + mapped / READ_BPS;
  console.log(`\nphysical floor (mapped/30MB/s + mapped/90MB/s)              ${floor.toFixed(2).padStart(7)} s`);
  const ratio = (name, v, target) => console.log(`${name.padEnd(52)} ${v.toFixed(3).padStart(7)}  (target ≤ ${target})`);
  ratio('raw --no-verify ÷ bmaptool', tRaw / tBmap, '1.0');
  ratio('raw verified ÷ floor', tRawV / floor, '1.1');
  ratio('oci .zst cold --no-verify ÷ bmaptool .zst', tOciCold / tBmapZst, '1.1');
  ratio('oci .zst warm --no-verify ÷ bmaptool .zst', tOciWarm / tBmapZst, '—');
  ratio('oci .zst cold verified ÷ floor', tOciColdV / floor, '—');
  ratio(`.xz --no-verify ÷ xz -dc (median of ${rounds} paired rounds)`, median(xzRatios), '1.15');
  ratio('.xz --no-verify, median ÷ median (unpaired)', tXzBurn / tXz, '—');
  ratio('.xz verified (one run) ÷ xz -dc median', tXzBurnV / tXz, '—');
} finally {
  cleanup();
}
