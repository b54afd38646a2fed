#!/usr/bin/env node
// The longer random fuzz run: the CI tiers (test/manifest/fuzz.test.ts, test/burner/inventory/fuzz.test.ts)
// with a random seed and more inputs. Usage: node bench/fuzz.mjs [manifests] [inventories] [seed]
// A failure prints the seed; re-run with it to reproduce.
import { spawnSync } from 'node:child_process';

const manifests = process.argv[2] ?? '20000';
const inventories = process.argv[3] ?? '3000';
const seed = process.argv[4] ?? String(Math.floor(Math.random() * 2 ** 31));
console.log(`fuzz: seed ${seed}, ${manifests} manifests, ${inventories} inventories`);
const started = Date.now();
const r = spawnSync('npx', ['vitest', 'run', '--testTimeout=0', 'test/manifest/fuzz.test.ts', 'test/burner/inventory/fuzz.test.ts'], {
  stdio: 'inherit',
  env: { ...process.env, METIS_FUZZ_SEED: seed, METIS_FUZZ_MANIFESTS: manifests, METIS_FUZZ_INVENTORIES: inventories },
});
console.log(`fuzz: seed ${seed} ${r.status === 0 ? 'passed' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
process.exit(r.status ?? 1);
