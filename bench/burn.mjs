// bench:burn — Metis's write pipeline against dd and bmaptool on an emulated SD card (a loop
// device throttled by cgroup-v1 blkio to 30 MB/s write, 90 MB/s read), and the .xz path against
// the decompressor alone. Needs root. Prints times and ratios; asserts nothing (not part of CI).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const MIB = 1024 * 1024;
const WRITE_BPS = 31457280;
const READ_BPS = 94371840;
const BLKIO = '/sys/fs/cgroup/blkio';
const repo = fileURLToPath(new URL('..', import.meta.url));

if (process.getuid?.() !== 0) {
  console.error('bench:burn needs root (loop devices, blkio throttling)');
  process.exit(2);
}

const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'], ...opts });
const seconds = (fn) => {
  const t = process.hrtime.bigint();
  const r = fn();
  return r instanceof Promise ? r.then((v) => [Number(process.hrtime.bigint() - t) / 1e9, v]) : [Number(process.hrtime.bigint() - t) / 1e9, r];
};

const work = mkdtempSync(join(tmpdir(), 'metis-bench-burn-'));
let loop = null;
let devno = null;
const cleanup = () => {
  if (devno) for (const f of ['write_bps_device', 'read_bps_device']) spawnSync('sh', ['-c', `echo "${devno} 0" > ${BLKIO}/blkio.throttle.${f}`]);
  if (loop) spawnSync('losetup', ['-d', loop]);
  rmSync(work, { recursive: true, force: true });
};
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

try {
  // The pipeline under test, bundled from source like the CLI is.
  const bundle = join(work, 'burn.mjs');
  await build({ entryPoints: [join(repo, 'src/burner/write/burn.ts')], bundle: true, platform: 'node', format: 'esm', outfile: bundle, logLevel: 'warning',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" } });
  const { burn } = await import(pathToFileURL(bundle).href);

  // 1 GiB, MBR, 64 MiB FAT32 boot with 16 MiB of files, ext4 root with ~240 MiB of real files
  // (a tar of /usr/share: text, images, binaries — compresses like an OS image does).
  const img = join(work, 'class.img');
  console.log('building a 1 GiB test image …');
  sh('truncate', ['-s', '1G', img]);
  sh('sfdisk', ['-q', img], { input: 'label: dos\nstart=2048,size=131072,type=c\nstart=133120,type=83\n' });
  sh('mkfs.vfat', ['-F', '32', '-s', '1', '--offset', '2048', img, '65536']);
  const payload = (n, from, mib) => {
    const p = join(work, n);
    sh('sh', ['-c', `tar cf - ${from} 2>/dev/null | head -c ${mib * MIB} > ${p}`]);
    return p;
  };
  sh('mcopy', ['-i', `${img}@@${2048 * 512}`, payload('firmware.bin', '/usr/lib/x86_64-linux-gnu', 16), '::/firmware.bin'], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
  const rootfs = join(work, 'rootfs');
  mkdirSync(rootfs);
  sh('mv', [payload('usr-share.tar', '/usr/share', 240), rootfs]);
  sh('mkfs.ext4', ['-q', '-F', '-E', `offset=${133120 * 512}`, '-d', rootfs, img, `${(1024 * MIB - 133120 * 512) / 1024}k`]);
  rmSync(rootfs, { recursive: true });
  const bmap = join(work, 'class.bmap');
  sh('bmaptool', ['-q', 'create', '-o', bmap, img]);

  // The emulated card: backing file written once, so first-write allocation doesn't distort timings.
  const backing = join(work, 'card.img');
  sh('dd', ['if=/dev/zero', `of=${backing}`, 'bs=4M', 'count=272', 'status=none']);
  loop = sh('losetup', ['-f', '--show', backing], { encoding: 'utf8' }).trim();
  devno = sh('lsblk', ['-dno', 'MAJ:MIN', loop], { encoding: 'utf8' }).trim();
  writeFileSync(`${BLKIO}/blkio.throttle.write_bps_device`, `${devno} ${WRITE_BPS}`);
  writeFileSync(`${BLKIO}/blkio.throttle.read_bps_device`, `${devno} ${READ_BPS}`);
  console.log(`emulated card ${loop} (${devno}): write ${WRITE_BPS / 1e6} MB/s, read ${(READ_BPS / 1e6).toFixed(1)} MB/s`);

  // Between runs: drop the device's cache, and pause so the throttle's time slice left over from
  // the previous writer doesn't bill the next one (the first run after a writer was ~0.8 s slower).
  const fresh = () => {
    sh('blockdev', ['--flushbufs', loop]);
    sh('sleep', ['3']);
  };
  const rows = [];
  fresh();
  const [tDd] = seconds(() => sh('dd', [`if=${img}`, `of=${loop}`, 'bs=4M', 'oflag=direct', 'conv=fsync', 'status=none']));
  rows.push(['dd bs=4M oflag=direct conv=fsync', tDd]);
  fresh();
  const [tBmap] = seconds(() => sh('bmaptool', ['-q', 'copy', '--bmap', bmap, img, loop]));
  rows.push(['bmaptool copy', tBmap]);
  fresh();
  const [tNoVerify, r1] = await seconds(() => burn({ image: img, target: loop, verify: false }));
  rows.push(['metis --no-verify', tNoVerify]);
  fresh();
  const [tVerify, r2] = await seconds(() => burn({ image: img, target: loop, verify: true }));
  rows.push(['metis (verify)', tVerify]);

  const allocated = r2.bytesWritten;
  const floor = allocated / WRITE_BPS + allocated / READ_BPS;
  const mapped = /<MappedBlocksCount>\s*(\d+)/.exec(sh('cat', [bmap], { encoding: 'utf8' }))[1] * 4096;
  console.log(`\nimage 1024 MiB; metis writes ${(allocated / MIB).toFixed(1)} MiB, bmap maps ${(mapped / MIB).toFixed(1)} MiB (${r1.bytesWritten === allocated ? 'same' : 'differs'} with/without verify)`);
  for (const [name, t] of rows) console.log(`${name.padEnd(34)} ${t.toFixed(2).padStart(7)} s`);
  console.log(`physical floor (alloc/30MB/s + alloc/90MB/s) ${floor.toFixed(2)} s`);
  console.log(`ratio metis --no-verify / bmaptool      ${(tNoVerify / tBmap).toFixed(3)}  (target ≤ 1.0)`);
  console.log(`ratio metis verify / physical floor     ${(tVerify / floor).toFixed(3)}  (target ≤ 1.1)`);
  console.log(`ratio dd / metis --no-verify            ${(tDd / tNoVerify).toFixed(2)}×`);

  // .xz, unthrottled: decompressor alone vs. the whole burn to an image file.
  console.log('\ncompressing with xz -T0 -3 …');
  sh('xz', ['-T0', '-3', '-k', '-f', img]);
  const xzImg = `${img}.xz`;
  const [tXz] = seconds(() => sh('sh', ['-c', `xz -dc -T0 ${xzImg} > /dev/null`]));
  const out = join(work, 'from-xz.img');
  const [tXzBurn] = await seconds(() => burn({ image: xzImg, target: out, verify: false }));
  rmSync(out);
  const [tXzBurnV] = await seconds(() => burn({ image: xzImg, target: out, verify: true }));
  console.log(`xz ${(statSync(xzImg).size / MIB).toFixed(1)} MiB`);
  console.log(`${'xz -dc > /dev/null'.padEnd(34)} ${tXz.toFixed(2).padStart(7)} s`);
  console.log(`${'metis from .xz → file --no-verify'.padEnd(34)} ${tXzBurn.toFixed(2).padStart(7)} s`);
  console.log(`${'metis from .xz → file (verify)'.padEnd(34)} ${tXzBurnV.toFixed(2).padStart(7)} s`);
  console.log(`ratio metis .xz --no-verify / xz alone  ${(tXzBurn / tXz).toFixed(3)}  (target ≤ 1.15)`);
} finally {
  cleanup();
}
