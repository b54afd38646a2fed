import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { exitCodeFor, run } from '../../src/bootstrap/engine/run.js';
import { MetisError, ValidationError } from '../../src/lib/errors.js';
import { parseManifest } from '../../src/manifest/load.js';
import { hashTree, makeSysroot } from '../bootstrap/sysroot.js';
import { exampleManifestText, tempRoot } from '../helpers/context.js';
import { mutate, rng } from '../helpers/fuzz.js';

/** Fixed in CI; bench/fuzz.mjs runs other seeds and more inputs. */
const SEED = Number(process.env['METIS_FUZZ_SEED'] ?? 16);
const COUNT = Number(process.env['METIS_FUZZ_MANIFESTS'] ?? 1000);
const SECRETS = ['example-not-a-real-password', 'example-node-password-0001', 'leak-me'];

/** A refusal names the file, and a field or a line for every problem. */
export function namesFieldOrLine(e: unknown, file: string): boolean {
  if (!(e instanceof MetisError) || e.file !== file) return false;
  if (e instanceof ValidationError) return e.issues.length > 0 && e.issues.every((i) => i.path !== '' || (i.line ?? 0) > 0);
  return Boolean(e.path || e.line);
}

describe(`manifest fuzz (seed ${SEED})`, () => {
  it(`${COUNT} mutated manifests: no crash, every refusal names file and field or line, no secret in errors, refused runs change nothing`, async () => {
    const r = rng(SEED);
    const counts = { inputs: 0, accepted: 0, refused: 0, crashes: 0, vague: 0, leaks: 0, runs: 0, changed: 0 };
    const bad: string[] = [];
    const { root, cleanup } = tempRoot('metis-fuzz-');
    try {
      makeSysroot(root);
      const before = JSON.stringify(hashTree(root, ['var/lib/metis', 'fuzz.yaml']));
      for (let i = 0; i < COUNT; i++) {
        const { text, how } = mutate(exampleManifestText, r);
        counts.inputs++;
        let err: unknown;
        try {
          parseManifest(text, 'fuzz.yaml');
          counts.accepted++;
          continue;
        } catch (e) {
          err = e;
        }
        counts.refused++;
        if (!(err instanceof MetisError)) {
          counts.crashes++;
          bad.push(`#${i} ${how}: crash ${String(err)}`);
          continue;
        }
        if (!namesFieldOrLine(err, 'fuzz.yaml')) {
          counts.vague++;
          bad.push(`#${i} ${how}: vague ${err.message}`);
        }
        if (SECRETS.some((s) => err.message.includes(s))) {
          counts.leaks++;
          bad.push(`#${i} ${how}: secret in error: ${err.message}`);
        }
        // Every 20th refusal through a whole apply run: refused before anything changed.
        if (counts.refused % 20 === 1) {
          writeFileSync(join(root, 'fuzz.yaml'), text);
          const report = await run({ root, manifestPath: join(root, 'fuzz.yaml'), checkMode: false, logDest: new Writable({ write: (_c, _e, cb) => cb() }) });
          counts.runs++;
          if (exitCodeFor(report) !== 1 || JSON.stringify(hashTree(root, ['var/lib/metis', 'fuzz.yaml'])) !== before) {
            counts.changed++;
            bad.push(`#${i} ${how}: run exit ${exitCodeFor(report)} or the tree changed`);
          }
        }
      }
    } finally {
      cleanup();
    }
    console.log(`manifest fuzz (seed ${SEED}): ${counts.inputs} inputs, ${counts.accepted} accepted, ${counts.refused} refused; ${counts.crashes} crashes, ${counts.vague} refusals naming neither field nor line, ${counts.leaks} secrets in errors; ${counts.runs} refused apply runs, ${counts.changed} changed anything`);
    expect(bad.slice(0, 10), bad.join('\n')).toEqual([]);
    expect(counts.inputs).toBeGreaterThanOrEqual(COUNT);
    expect(counts.refused).toBeGreaterThan(COUNT / 4);
    expect(counts.runs).toBeGreaterThan(10);
  }, Math.max(300_000, COUNT * 1000));
});
