// bench:burn-ab — the raw row of bench:burn (`metis burn --bmap --no-verify` against `bmaptool copy
// --bmap`, same image and .bmap, on a loop device throttled to 30 MB/s write, 90 MB/s read) in
// interleaved rounds, each command timed by bench/device-curve.mjs: exit time and when the first
// written sector reached the card. With `--other PATH/dist/metis.js` (another commit's bundle, e.g.
// from `git worktree add`), that bundle runs in the same rounds, so a change is judged against the
// code before it on the same machine at the same time. Each bundle keeps its own code cache (its own
// XDG_CACHE_HOME), warmed by one untimed burn. A last row times node itself opening the card and
// writing 4 KiB: the first-write floor of any node program. Commands run without
// NODE_EXTRA_CA_CERTS, as under sudo (bench/lib/env.mjs); when it was set, one more row runs this
// tree's bundle with it, to show what it costs. Needs root. Prints medians and ratios, and each
// bundle's paired difference to bmaptool with a 95 % confidence interval; asserts nothing.
// Usage: sudo node bench/burn-ab.mjs [--rounds N] [--other PATH/metis.js]
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { makeClassImage } from './lib/class-image.mjs';
import { emulatedCard } from './lib/card.mjs';
import { benchEnv, extraCaNote } from './lib/env.mjs';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, other: { type: 'string' } } });
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) {
  console.error('--rounds: a whole number from 1 to 50');
  process.exit(2);
}
if (process.getuid?.() !== 0) {
  console.error('bench:burn-ab needs root (loop devices, blkio throttling)');
  process.exit(2);
}
const repo = fileURLToPath(new URL('..', import.meta.url));
const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'], maxBuffer: 1 << 26, ...opts });
const work = mkdtempSync(join(tmpdir(), 'metis-bench-ab-'));
let card = null;
const cleanup = () => {
  card?.release();
  rmSync(work, { recursive: true, force: true });
};
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => (cleanup(), process.exit(sig === 'SIGINT' ? 130 : 143)));

try {
  sh('node', [join(repo, 'scripts/build.mjs')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const img = makeClassImage(work, 1024, 240);
  const bmap = join(work, 'class.img.bmap');
  sh('bmaptool', ['-q', 'create', '-o', bmap, img]);
  const inv = join(work, 'inventory');
  cpSync(join(repo, 'inventory'), inv, { recursive: true });
  card = emulatedCard(work, 1088);
  const { loop, fresh } = card;

  const { env: base, extraCa } = benchEnv();
  if (extraCa !== undefined) console.log(extraCaNote(extraCa));
  const metisEnv = (name, from = base) => {
    const xdg = join(work, `xdg-${name}`);
    mkdirSync(xdg, { mode: 0o700 });
    return { ...from, METIS_K3S_TOKEN: `K10${'ab'.repeat(32)}::server:bench`, XDG_CACHE_HOME: xdg };
  };
  const burn = (bundle) => ['node', bundle, 'burn', 'titan-13', '--device', loop, '--image', img, '--bmap', bmap, '--no-verify', '--yes', '--inventory', inv, '--cache', join(work, 'cache')];
  const cmds = new Map([
    ['bmaptool', { argv: ['bmaptool', '-q', 'copy', '--bmap', bmap, img, loop], env: base }],
    ['metis (this tree)', { argv: burn(join(repo, 'dist/metis.js')), env: metisEnv('this') }],
  ]);
  if (values.other) cmds.set(`metis (${values.other})`, { argv: burn(values.other), env: metisEnv('other') });
  // What the variable costs an operator whose shell sets it (`sudo -E` keeps it): the same bundle with it.
  if (extraCa !== undefined) cmds.set('metis, NODE_EXTRA_CA_CERTS kept', { argv: burn(join(repo, 'dist/metis.js')), env: metisEnv('extra-ca', process.env) });
  // The least any node program pays before its first write: node's own start, open the card, one
  // 4 KiB write at 1 MiB, fsync. Its first write is the floor of the "first write" column for a CLI
  // that runs on node; bmaptool's (python's start is far shorter) is the anchor of the exit column.
  const FLOOR = 'node (start, open, one write)';
  const floorJs = "const fs=require('fs');const fd=fs.openSync(process.argv[1],'r+');fs.writeSync(fd,Buffer.alloc(4096,1),0,4096,1048576);fs.fsyncSync(fd);fs.closeSync(fd)";
  cmds.set(FLOOR, { argv: ['node', '-e', floorJs, loop], env: base });
  // Untimed: each bundle's first burn writes its code cache and its kept inventory parses.
  for (const [name, c] of cmds) if (name.startsWith('metis')) sh(c.argv[0], c.argv.slice(1), { env: c.env, stdio: 'ignore' });

  const results = new Map([...cmds.keys()].map((k) => [k, []]));
  for (let i = 0; i < rounds; i++) {
    for (const [name, c] of cmds) {
      fresh();
      const r = spawnSync('node', [join(repo, 'bench/device-curve.mjs'), loop.replace('/dev/', ''), ...c.argv], { env: c.env, encoding: 'utf8' });
      const m = /^exit (\d+) at (\d+) ms, [\d.]+ MB written: 0\.0 MB @ (\d+) ms/.exec(r.stdout);
      if (!m || m[1] !== '0') throw new Error(`${name}: ${r.stdout.trim() || r.stderr.trim()}`);
      results.get(name).push({ exit: Number(m[2]), first: Number(m[3]) });
      console.log(`round ${i + 1} ${name.padEnd(40)} exit ${m[2]} ms, first write ${m[3]} ms`);
    }
  }
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const anchor = median(results.get('bmaptool').map((r) => r.exit));
  console.log(`\nmedians of ${rounds} rounds`);
  for (const [name, rs] of results) {
    const exit = median(rs.map((r) => r.exit));
    if (name === FLOOR) {
      console.log(`${name.padEnd(40)} ${' '.repeat(14)}    first write ${String(median(rs.map((r) => r.first))).padStart(4)} ms (the floor for any node program)`);
      continue;
    }
    console.log(`${name.padEnd(40)} exit ${String(exit).padStart(6)} ms, first write ${String(median(rs.map((r) => r.first))).padStart(4)} ms, ÷ bmaptool ${(exit / anchor).toFixed(3)}`);
  }
  // Each round's commands ran back to back, so a round's difference cancels what drifts between
  // rounds: the paired difference to bmaptool, with a 95 % confidence interval of its mean (Student's
  // t). An interval that spans 0 means these rounds cannot tell the two apart.
  const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086];
  const tOf = (df) => T975[df - 1] ?? (df <= 30 ? 2.06 : 2.02);
  const bm = results.get('bmaptool').map((r) => r.exit);
  if (rounds > 1) console.log(`\nexit − bmaptool's exit in the same round (paired, ${rounds} rounds)`);
  for (const [name, rs] of results) {
    if (rounds < 2 || name === 'bmaptool' || name === FLOOR) continue;
    const d = rs.map((r, i) => r.exit - bm[i]);
    const mean = d.reduce((a, b) => a + b, 0) / d.length;
    const sd = Math.sqrt(d.reduce((a, b) => a + (b - mean) ** 2, 0) / (d.length - 1));
    const half = (tOf(d.length - 1) * sd) / Math.sqrt(d.length);
    const faster = d.filter((x) => x < 0).length;
    console.log(`${name.padEnd(40)} median ${String(median(d)).padStart(4)} ms, mean ${mean.toFixed(1).padStart(6)} ms, 95 % CI [${(mean - half).toFixed(1)}, ${(mean + half).toFixed(1)}] ms (${((mean - half) / anchor * 100).toFixed(2)} … ${((mean + half) / anchor * 100).toFixed(2)} % of bmaptool), sooner in ${faster} of ${d.length}`);
  }
} finally {
  cleanup();
}
