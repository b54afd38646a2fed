// Builds the two self-contained bundles. The bootstrap bundle carries every task file and template
// inside it (no files to install beside it on the node) and must run on Debian 12's node 18.
import { createHash } from 'node:crypto';
import { build } from 'esbuild';
import { chmod, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { asciiOnly } from './embed.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));

async function walk(dir) {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const out = [];
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** name → text, names relative to the repo ("tasks/10-hostname.yaml", "templates/sshd/60-metis.conf.hbs"). */
async function collectAssets() {
  const files = [
    ...(await walk(join(repo, 'tasks'))).filter((f) => f.endsWith('.yaml')),
    ...(await walk(join(repo, 'templates'))),
  ].sort();
  const assets = {};
  for (const f of files) assets[relative(repo, f).split('\\').join('/')] = await readFile(f, 'utf8');
  return assets;
}

const pkg = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8'));
const common = {
  bundle: true,
  platform: 'node',
  target: 'node18',
  format: 'cjs',
  banner: { js: '#!/usr/bin/env node' },
  logLevel: 'warning',
  legalComments: 'none',
  // import.meta is empty in CJS; its one user (assets.ts, reading the repo when running from source)
  // is never reached in a bundle, where __METIS_ASSETS__ is defined.
  define: { __METIS_VERSION__: JSON.stringify(pkg.version), 'import.meta.url': '"file:///"' },
};

/**
 * The bootstrap's start-up allocates ~15 MB that all survives: with V8's default 1 MB young
 * generation that is about seven scavenges copying the same objects; a 16 MB one starts with room
 * for all of it (measured: 7 scavenges → 1, GC time about halved).
 * `--jitless`: a run lasts well under a second of JavaScript, too short for V8's optimising
 * compilers to pay back what they cost (compile threads, and under emulation every freshly
 * generated code page is translated again); V8's interpreter runs it whole. Measured with Debian
 * 12's node 18 on a converged sysroot (`--boot --check`): about 17 % less wall time natively, more
 * under QEMU (docs/performance.md). The bundle uses no WebAssembly, which --jitless turns off;
 * `--no-expose-wasm` says so, or V8 warns about the conflict on stderr at every start.
 * `env -S` (coreutils ≥ 8.30, Debian 11+) passes the flags from the shebang, so every run, by
 * systemd or by hand, gets them.
 */
const BOOTSTRAP_NODE_FLAGS = ['--min-semi-space-size=16', '--jitless', '--no-expose-wasm'];


/**
 * Cold start: V8 must scan every function in a file before running it, and the engine with zod,
 * pino, handlebars and yaml is ~2 MB of code. So the bootstrap's main module (and the metis CLI's
 * commands) are bundled on their own and embedded in the entry file as one string literal (scanning
 * a string is far cheaper than scanning code), compiled only when a run needs it (the bootstrap's
 * --version/--help never pay), through a V8 code cache (src/core/code-cache.ts: where systemd gives
 * the bootstrap a cache directory, src/bootstrap/code-cache.ts; the user's cache directory for the
 * CLI, src/burner/code-cache.ts). The code's hash names the cache, so a new bundle never reads an
 * old one's.
 *
 * The embedded code must be ASCII: one character above U+00FF (a "…" in a String.raw page text,
 * which esbuild cannot escape) makes V8 hold the whole module as a two-byte string, twice the
 * memory to copy and scan on every start; the build refuses it, naming the character and where
 * (scripts/embed.mjs). Not deflated: inflating it at start was ≈ 15 ms sooner to the first write,
 * but the module's text then lives outside V8's heap and a long `.xz` burn ran 15 full garbage
 * collections instead of 1 (docs/performance.md, "The entry file's size").
 */
function lazyMainPlugin(define, { importer, request, entry, loader, call }) {
  return {
    name: 'metis-lazy-main',
    setup(b) {
      b.onResolve({ filter: new RegExp(`^${request.replace(/[./]/g, '\\$&')}$`) }, (args) => (args.importer.endsWith(importer) ? { path: 'main', namespace: 'metis-lazy' } : undefined));
      b.onLoad({ filter: /.*/, namespace: 'metis-lazy' }, async () => {
        const r = await build({ ...common, banner: {}, define, entryPoints: [join(repo, entry)], write: false, minifyWhitespace: true, minifySyntax: true });
        const code = asciiOnly(r.outputFiles[0].text, entry);
        const hash = createHash('sha256').update(code).digest('hex').slice(0, 16);
        return {
          loader: 'js',
          resolveDir: join(repo, loader.dir),
          contents: `const { loadWithCodeCache } = require('${loader.file}');
${call ? `const { ${call.name} } = require('${call.file}');
` : ''}module.exports = loadWithCodeCache(${JSON.stringify(code)}, ${JSON.stringify(hash)}, require, __filename, __dirname${call ? `, ${call.expr}` : ''}).exports;
`,
        };
      });
    },
  };
}

/** The bootstrap's engine, and the CLI's commands: each one string behind a small entry file. */
const LAZY = {
  bootstrap: { importer: 'src/bootstrap/cli.ts', request: './main.js', entry: 'src/bootstrap/main.ts', loader: { dir: 'src/bootstrap', file: './code-cache.ts' } },
  metis: {
    importer: 'src/burner/cli.ts',
    request: './commands/main.js',
    entry: 'src/burner/commands/main.ts',
    loader: { dir: 'src/burner', file: '../core/code-cache.ts' },
    call: { name: 'cliCacheSpec', file: './code-cache.ts', expr: 'cliCacheSpec(process.argv.slice(2), process.env)' },
  },
};

const targets = [
  { entry: 'src/bootstrap/cli.ts', out: 'dist/metis-bootstrap.js', assets: true, lazy: LAZY.bootstrap, banner: { js: `#!/usr/bin/env -S node ${BOOTSTRAP_NODE_FLAGS.join(' ')}` } },
  { entry: 'src/burner/cli.ts', out: 'dist/metis.js', assets: false, lazy: LAZY.metis },
];

/**
 * Every task file parsed once here, with the engine's own parser (src/bootstrap/engine/load-tasks.ts
 * bundled in memory): a run then validates plain data instead of parsing YAML (twice) each time.
 */
async function preparseTaskFiles(assets) {
  const r = await build({ ...common, banner: {}, entryPoints: [join(repo, 'src/bootstrap/engine/load-tasks.ts')], write: false });
  const mod = { exports: {} };
  new Function('module', 'exports', 'require', r.outputFiles[0].text)(mod, mod.exports, createRequire(import.meta.url));
  const out = {};
  for (const [name, text] of Object.entries(assets)) if (name.startsWith('tasks/') && name.endsWith('.yaml')) out[name] = mod.exports.preparseTasks(text, name);
  return out;
}

const assets = await collectAssets();
const parsedTasks = await preparseTaskFiles(assets);
// The repo is "type": "module"; the bundles are CommonJS (lazy module init keeps --version fast).
// This marker makes node read dist/*.js as CommonJS here; installed alone on a node, .js is CJS anyway.
await mkdir(join(repo, 'dist'), { recursive: true });
await writeFile(join(repo, 'dist/package.json'), '{ "type": "commonjs" }\n');
for (const t of targets) {
  const outfile = join(repo, t.out);
  const define = { ...common.define, ...(t.assets ? { __METIS_ASSETS__: JSON.stringify(assets), __METIS_TASKS_PARSED__: JSON.stringify(parsedTasks) } : {}) };
  await build({ ...common, ...(t.banner ? { banner: t.banner } : {}), entryPoints: [join(repo, t.entry)], outfile, define, plugins: [lazyMainPlugin(define, t.lazy)] });
  await chmod(outfile, 0o755);
}
console.log(`built ${targets.map((t) => t.out).join(', ')} (${Object.keys(assets).length} embedded assets)`);
