// npm run demo: no root, no network. Builds a small demo class image, burns the example node titan-13
// onto an image file with the real `metis burn` pipeline, reads metis/node.yaml back out of the FAT
// partition, and runs the bootstrap in --check mode against a scratch root to show the first-boot plan.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const repo = fileURLToPath(new URL('..', import.meta.url));
const scratch = join(repo, '.cache', 'demo');
const dist = join(repo, 'dist');
const heading = (s) => console.log(`\n=== ${s} ${'='.repeat(Math.max(0, 70 - s.length))}`);

function run(cmd, args, opts = {}) {
  console.log(`$ ${[cmd, ...args].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: repo, ...opts });
  if (r.error) throw r.error;
  return r.status;
}

/** path → content of every file under dir: --check must leave it identical. */
function treeSnapshot(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath ?? e.path, e.name))
    .sort()
    .map((p) => [p, readFileSync(p, 'utf8')]);
}

function must(status, what) {
  if (status !== 0) {
    console.error(`demo: ${what} failed (exit ${status})`);
    process.exit(1);
  }
}

await rm(scratch, { recursive: true, force: true });
await mkdir(scratch, { recursive: true });

// The demo helpers are TypeScript: bundle them once into the scratch dir (esbuild is a dev dependency).
const helpers = join(scratch, 'demo-helpers.mjs');
await writeFile(join(scratch, 'demo-helpers-entry.ts'), `export { makeDemoImage } from '${join(repo, 'src/demo/image.ts')}';\nexport { readBootFile } from '${join(repo, 'src/burner/fat/boot-file.ts')}';\n`);
await build({ entryPoints: [join(scratch, 'demo-helpers-entry.ts')], bundle: true, platform: 'node', format: 'esm', outfile: helpers, logLevel: 'warning', banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" } });
const { makeDemoImage, readBootFile } = await import(helpers);

heading('1. Demo class image (MBR, FAT32 boot, ext4 root; no root, no loop devices)');
const classImg = join(scratch, 'demo-class.img');
const { layout, fat } = await makeDemoImage(classImg, scratch);
console.log(`${classImg}: ${(layout.totalBytes / 2 ** 20).toFixed(0)} MiB, FAT32 by ${fat === 'own' ? "Metis's own formatter (dosfstools not installed)" : 'mkfs.vfat'}, ext4 by mkfs.ext4 -d`);
must(run('xz', ['-k', '-1', '-T1', '-f', classImg]), 'xz');
const sha = spawnSync('sha256sum', [`${classImg}.xz`], { encoding: 'utf8' }).stdout.split(' ')[0];
console.log(`compressed: ${classImg}.xz  sha256 ${sha}`);

heading('2. The example inventory');
must(run('node', [join(dist, 'metis.js'), 'nodes', '--inventory', 'inventory']), 'metis nodes');

// A throwaway k3s secure token: the example cluster reads it from METIS_K3S_TOKEN.
const env = { ...process.env, METIS_K3S_TOKEN: `K10${randomBytes(32).toString('hex')}::server:${randomBytes(12).toString('hex')}`, METIS_CACHE_DIR: join(scratch, 'cache') };

heading('3. The manifest titan-13 will carry (secrets redacted)');
must(run('node', [join(dist, 'metis.js'), 'manifest', 'titan-13', '--inventory', 'inventory'], { env }), 'metis manifest');

heading('3b. Sealed secrets: titan-21\'s escrowed identity, opened with the throwaway demo age key');
// inventory/identity/titan-21.age and secrets/atlas-01-node-password.age are sealed with age to the
// demo key in inventory/demo-age-key.txt (made-up values); the real `age` binary opens them.
const ageKey = ['--age-key', 'inventory/demo-age-key.txt'];
must(run('node', [join(dist, 'metis.js'), 'identity', 'show', 'titan-21', 'titan-13', '--inventory', 'inventory', ...ageKey], { env }), 'metis identity show');
must(run('node', [join(dist, 'metis.js'), 'manifest', 'titan-21', '--inventory', 'inventory', ...ageKey], { env }), 'metis manifest titan-21');

heading('4. Burn titan-13 onto an image file (sparse write, read-back verify, manifest injected)');
const card = join(scratch, 'titan-13-card.img');
must(run('node', [join(dist, 'metis.js'), 'burn', 'titan-13', '--to', card, '--image', `${classImg}.xz`, '--sha256', sha, '--yes', '--inventory', 'inventory'], { env }), 'metis burn');

heading('5. metis/node.yaml read back from the card\'s FAT partition (no mount)');
const back = await readBootFile(card, 'metis/node.yaml');
if (!back) {
  console.error('demo: metis/node.yaml missing on the card');
  process.exit(1);
}
const readBack = join(scratch, 'node.yaml');
await writeFile(readBack, back, { mode: 0o600 });
const tokenFree = back.toString('utf8').split(env.METIS_K3S_TOKEN).join('[redacted: throwaway demo token]');
console.log(tokenFree.trimEnd());

heading('6. First boot, planned: metis-bootstrap --check against a scratch root');
const root = join(scratch, 'sysroot');
await mkdir(join(root, 'etc'), { recursive: true });
// What a fresh class image has before its first boot: a base system, no node identity yet.
await writeFile(join(root, 'etc/hostname'), 'localhost\n');
await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
await writeFile(join(root, 'etc/group'), 'root:x:0:\n');
await mkdir(join(root, 'root'), { recursive: true, mode: 0o700 });
const before = treeSnapshot(root);
const args = [join(dist, 'metis-bootstrap.js'), '--check', '--root', root, '--state-dir', join(scratch, 'state'), '--manifest', readBack];
console.log(`$ node ${args.join(' ')}`);
const r = spawnSync('node', args, { cwd: repo, encoding: 'utf8' });
// The bootstrap logs JSON lines (journald's format); show them as a plan table.
for (const line of r.stdout.split('\n')) {
  let e;
  try {
    e = JSON.parse(line);
  } catch {
    if (line.trim()) console.log(line);
    continue;
  }
  if (e.kind === 'task') console.log(`  ${(e.status === 'changed' ? 'WOULD CHANGE' : e.status).padEnd(12)} ${e.task}${e.reason ? `\n${' '.repeat(15)}${e.reason}` : ''}`);
  else if (e.kind === 'recap' || e.kind === 'error') console.log(`  ${e.msg}`);
}
if (r.stderr.trim()) console.log(r.stderr.trimEnd());
// --check exits 2 when it finds drift: on a fresh root that is the whole first-boot plan.
// 4/6: tasks that cannot succeed on this bare demo root (no k3s binary, no disks, no open-iscsi) are failures, not drift.
if (![0, 2, 4, 6].includes(r.status)) must(r.status, 'metis-bootstrap --check');
const unchanged = JSON.stringify(before) === JSON.stringify(treeSnapshot(root));
const meaning = { 0: 'nothing to change', 2: 'changes planned for first boot', 4: 'tasks that cannot succeed here', 6: 'changes planned, and tasks that cannot succeed on this bare demo root' }[r.status];
console.log(`\nmetis-bootstrap --check exit ${r.status} (${meaning}); scratch root ${unchanged ? 'unchanged' : 'MODIFIED'}.`);
if (!unchanged) process.exit(1);
heading('Done');
console.log(`scratch files: ${scratch}`);
