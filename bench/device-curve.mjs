// Where a burn's time goes on the card itself: runs COMMAND while sampling /sys/block/DEV/stat every
// 5 ms, and prints when the first written sector reached DEV and when it had 1, 10, 50, 100, 200,
// 270 MB and its last 2 MB. Used to compare `metis burn` with `bmaptool copy` on bench:burn's emulated
// card (docs/performance.md, "Runs of 2026-12-03 16:30–17:37"). Asserts nothing; needs read access
// to sysfs only. Usage: node bench/device-curve.mjs loop0 node dist/metis.js burn NODE --device /dev/loop0 …
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

const [dev, cmd, ...args] = process.argv.slice(2);
if (!dev || !cmd) {
  console.error('usage: node bench/device-curve.mjs DEV COMMAND [ARGS…]   (DEV as in /sys/block, e.g. loop0)');
  process.exit(2);
}
const written = () => Number(readFileSync(`/sys/block/${dev}/stat`, 'utf8').trim().split(/\s+/)[6]);
const t0 = performance.now();
const s0 = written();
const samples = [];
const timer = setInterval(() => samples.push([performance.now() - t0, ((written() - s0) * 512) / 1e6]), 5);
const child = spawn(cmd, args, { stdio: 'ignore' });
child.on('exit', (code) => {
  clearInterval(timer);
  const end = performance.now() - t0;
  // A last sample at exit: a command shorter than a few intervals may have written after the last tick.
  samples.push([end, ((written() - s0) * 512) / 1e6]);
  const total = samples.at(-1)?.[1] ?? 0;
  const at = (mb) => samples.find(([, m]) => m >= mb)?.[0]?.toFixed(0) ?? '-';
  const marks = [0.001, 1, 10, 50, 100, 200, 270, total - 2, total - 1, total].filter((mb) => mb > 0 && mb <= total);
  console.log(`exit ${code} at ${end.toFixed(0)} ms, ${total.toFixed(1)} MB written: ${marks.map((mb) => `${mb.toFixed(1)} MB @ ${at(mb)} ms`).join(', ')}`);
});
