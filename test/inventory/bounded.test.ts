import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { secretResolver } from '../../src/inventory/secrets.js';
import { metis } from '../burner/commands/run.js';

const made: string[] = [];
afterEach(() => made.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
function inventory(): string {
  const d = mkdtempSync(join(tmpdir(), 'metis-invb-'));
  made.push(d);
  cpSync(new URL('../../inventory', import.meta.url).pathname, d, { recursive: true });
  return d;
}

const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]'];
for (let i = 1; i < 10; i++) bomb.push(`${'b'.repeat(i)}: &${'a'.repeat(i + 1)} [${Array(9).fill(`*${'a'.repeat(i)}`).join(', ')}]`);

describe('inventory input bounds: exit 3, the file and a line named', () => {
  it.each([
    ['an alias bomb', bomb.join('\n') + '\n', /cluster\.yaml:2: \(root\): aliases expand too far/],
    ['an empty file', '', /cluster\.yaml:1: \(root\): file is empty/],
    ['a complex key', '? [a, b]\n: c\n', /cluster\.yaml:1: \(root\): keys must be plain scalars/],
    ['nesting 100,000 deep', '['.repeat(100_000) + ']'.repeat(100_000), /cluster\.yaml:1: \(root\): nesting deeper than 64 levels/],
    ['more than 1 MiB', `# ${'x'.repeat(1 << 20)}\n`, /cluster\.yaml:1: \(root\): file is larger than 1048576 bytes/],
  ])('%s in cluster.yaml', async (_n, text, message) => {
    const inv = inventory();
    writeFileSync(join(inv, 'cluster.yaml'), text);
    for (const argv of [['nodes', '--inventory', inv], ['manifest', 'titan-13', '--inventory', inv]]) {
      const r = await metis(argv);
      expect(r.code, `${argv[0]}: ${r.err}`).toBe(3);
      expect(r.err).toMatch(message);
    }
  });

  it('file:/dev/zero as a secret source is read no further than 64 KiB and refused naming the field', async () => {
    const t = performance.now();
    await expect(secretResolver('/')('file:/dev/zero', { file: 'cluster.yaml', path: 'k3s.token' })).rejects.toThrow(
      /^cluster\.yaml: k3s\.token: secret file \/dev\/zero is larger than 65536 bytes/,
    );
    console.log(`file:/dev/zero refused in ${(performance.now() - t).toFixed(0)} ms`);
  });

  it('a secret file of exactly 64 KiB is still read', async () => {
    const inv = inventory();
    writeFileSync(join(inv, 'big.key'), 'k'.repeat(64 * 1024));
    expect((await secretResolver(inv)('file:big.key', { file: 'c', path: 'p' })).length).toBe(64 * 1024);
    expect(readFileSync(join(inv, 'big.key')).length).toBe(65536);
  });
});
