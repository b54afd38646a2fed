import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mutate, rng } from '../helpers/fuzz.js';
import { metis } from '../burner/commands/run.js';

const SEED = Number(process.env['METIS_FUZZ_SEED'] ?? 16);
const COUNT = Number(process.env['METIS_FUZZ_INVENTORIES'] ?? 300);
const INV = new URL('../../inventory', import.meta.url).pathname;
const PW = 'fuzz-secret-password-0042';
const env = { METIS_K3S_TOKEN: `K10${'ab'.repeat(32)}::server:${PW}` };

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : [join(dir, n)]));
}
function hashDir(dir: string): string {
  const h = createHash('sha256');
  for (const f of files(dir).sort()) h.update(relative(dir, f)).update(readFileSync(f));
  return h.digest('hex');
}

describe(`inventory fuzz (seed ${SEED})`, () => {
  it(`${COUNT} mutated inventories through "metis nodes" and "metis manifest": exit 0 or 3, refusals name the file and a field or line, nothing changed`, async () => {
    const r = rng(SEED);
    const counts = { inventories: 0, runs: 0, ok: 0, refused: 0, crashes: 0, vague: 0, leaks: 0, changed: 0 };
    const bad: string[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'metis-invfuzz-'));
    try {
      const targets = files(INV).filter((f) => f.endsWith('.yaml')).map((f) => relative(INV, f));
      for (let i = 0; i < COUNT; i++) {
        const inv = join(dir, String(i));
        cpSync(INV, inv, { recursive: true });
        const target = r.pick(targets);
        const { text, how } = mutate(readFileSync(join(inv, target), 'utf8'), r);
        writeFileSync(join(inv, target), text);
        const before = hashDir(inv);
        counts.inventories++;
        for (const argv of [['nodes', '--inventory', inv], ['manifest', 'titan-13', '--inventory', inv]]) {
          counts.runs++;
          const where = `#${i} ${target} ${how}: ${argv[0]}`;
          let res;
          try {
            res = await metis(argv, { env });
          } catch (e) {
            counts.crashes++;
            bad.push(`${where}: threw ${String(e)}`);
            continue;
          }
          if (res.code === 0) counts.ok++;
          else if (res.code === 3) {
            counts.refused++;
            // file:line: field: message, file: field: message, or the unknown node named on the command line.
            const named = /\.ya?ml(:\d+)?: \S/.test(res.err) || /unknown node titan-13/.test(res.err);
            if (!named) {
              counts.vague++;
              bad.push(`${where}: vague: ${res.err.slice(0, 300)}`);
            }
          } else {
            counts.crashes++;
            bad.push(`${where}: exit ${res.code}: ${res.err.slice(0, 300)}`);
          }
          if ((res.out + res.err).includes(PW)) {
            counts.leaks++;
            bad.push(`${where}: secret in output`);
          }
        }
        if (hashDir(inv) !== before) {
          counts.changed++;
          bad.push(`#${i}: the inventory changed`);
        }
        rmSync(inv, { recursive: true, force: true });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    console.log(`inventory fuzz (seed ${SEED}): ${counts.inventories} inventories, ${counts.runs} runs: ${counts.ok} exit 0, ${counts.refused} exit 3; ${counts.crashes} crashes or other exits, ${counts.vague} refusals naming neither field nor line, ${counts.leaks} secrets in output, ${counts.changed} inventories changed`);
    expect(bad.slice(0, 10), bad.slice(0, 10).join('\n')).toEqual([]);
    expect(counts.inventories).toBeGreaterThanOrEqual(COUNT);
    expect(counts.refused).toBeGreaterThan(COUNT / 4);
  }, Math.max(300_000, COUNT * 1000));
});
