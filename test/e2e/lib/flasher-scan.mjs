// Which regular files under DIRS hold any of the secrets given in $SCAN_SECRETS (newline-separated;
// the environment, never argv)? One filesystem per DIR (like find -xdev: a chroot's /proc mounted
// somewhere under /tmp is not read), symlinks not followed, EXCLUDE (absolute paths, ':'-separated)
// skipped when met inside a DIR (a DIR itself is always read).
// Prints the matching paths; exit 0 when none, 1 when some.
// Usage: SCAN_SECRETS=… node test/e2e/lib/flasher-scan.mjs EXCLUDE DIR...
import { lstatSync, openSync, readSync, closeSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const [excludeArg, ...dirs] = process.argv.slice(2);
const excluded = new Set(excludeArg.split(':').filter(Boolean));
const needles = (process.env.SCAN_SECRETS ?? '').split('\n').filter(Boolean).map((s) => Buffer.from(s));
if (!needles.length) {
  console.error('flasher-scan: SCAN_SECRETS is empty');
  process.exit(2);
}
const keep = Math.max(...needles.map((n) => n.length)) - 1;
const buf = Buffer.alloc(4 << 20);
const hits = new Set();

function holds(path) {
  let fd;
  try {
    fd = openSync(path, 'r');
  } catch {
    return false; // vanished or unreadable (other processes share these dirs)
  }
  try {
    let carry = 0;
    for (;;) {
      const n = readSync(fd, buf, carry, buf.length - carry, null);
      if (n <= 0) return false;
      const view = buf.subarray(0, carry + n);
      if (needles.some((s) => view.includes(s))) return true;
      carry = Math.min(keep, view.length);
      view.copyWithin(0, view.length - carry);
    }
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

function walk(dir, dev) {
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const p = join(dir, name);
    let st;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    if (st.dev !== dev || excluded.has(p)) continue;
    if (st.isDirectory()) walk(p, dev);
    else if (st.isFile() && !hits.has(p) && holds(p)) hits.add(p);
  }
}

for (const d of dirs) {
  let st;
  try {
    st = lstatSync(d);
  } catch {
    continue;
  }
  if (st.isDirectory()) walk(d, st.dev);
}
for (const h of hits) console.log(h);
process.exit(hits.size ? 1 : 0);
