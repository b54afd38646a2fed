// Cold start and no-op converge of the built bootstrap bundle, against `node -e 0` run the same way.
// Prints medians and ratios; target: --version ≤ 1.5× node -e 0. Run: npm run bench.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const N = Number(process.env.BENCH_RUNS ?? 15);
const BUNDLE = new URL('../dist/metis-bootstrap.js', import.meta.url).pathname;
const env = { ...process.env, NODE_EXTRA_CA_CERTS: '' };

function time(args, expectCode = 0) {
  const t = performance.now();
  const r = spawnSync(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = performance.now() - t;
  if (r.status !== expectCode) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

function median(args, expectCode) {
  time(args, expectCode); // warm the page cache
  const xs = Array.from({ length: N }, () => time(args, expectCode)).sort((a, b) => a - b);
  return xs[Math.floor(xs.length / 2)];
}

const baseline = median(['-e', '0']);
const version = median([BUNDLE, '--version']);

// A converged sysroot: what a Debian root has that the tasks read, converged once.
const root = mkdtempSync(join(tmpdir(), 'metis-bench-'));
try {
  const put = (p, text) => {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), text);
  };
  put('etc/passwd', 'root:x:0:0:root:/root:/bin/bash\n');
  put('etc/group', 'root:x:0:\n');
  put('etc/hosts', '127.0.0.1\tlocalhost\n');
  put('etc/ssh/sshd_config', 'Include /etc/ssh/sshd_config.d/*.conf\n');
  put('lib/systemd/system/ssh.service', '[Service]\nExecStart=/usr/sbin/sshd -D\n[Install]\nWantedBy=multi-user.target\n');
  mkdirSync(join(root, 'root'), { recursive: true });
  // The example's data disks: ext4 filesystems in files, linked where udev puts them.
  const example = readFileSync(new URL('../examples/node.yaml', import.meta.url), 'utf8');
  mkdirSync(join(root, 'dev/disk/by-uuid'), { recursive: true });
  for (const [, uuid] of example.matchAll(/uuid: ([0-9a-f-]{36})/g)) {
    const img = join(root, `${uuid}.img`);
    spawnSync('truncate', ['-s', '4M', img]);
    spawnSync('mkfs.ext4', ['-q', '-F', '-U', uuid, img]);
    symlinkSync(img, join(root, 'dev/disk/by-uuid', uuid));
  }
  const manifest = join(root, 'node.yaml');
  writeFileSync(manifest, example);
  const args = [BUNDLE, '--root', root, '--manifest', manifest];
  spawnSync(process.execPath, args, { env, stdio: 'ignore' });
  const noop = median(args, 0);
  const check = median([...args, '--check'], 0);

  const fmt = (ms) => `${ms.toFixed(1)} ms`;
  console.log(`runs per figure: ${N} (medians)`);
  console.log(`node -e 0                      ${fmt(baseline)}`);
  console.log(`metis-bootstrap --version      ${fmt(version)}  ratio ${(version / baseline).toFixed(2)}x  (target ≤ 1.50x)`);
  console.log(`no-op converge (sysroot)       ${fmt(noop)}  ratio ${(noop / baseline).toFixed(2)}x`);
  console.log(`no-op --check (sysroot)        ${fmt(check)}  ratio ${(check / baseline).toFixed(2)}x`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
