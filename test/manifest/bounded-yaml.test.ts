import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/lib/errors.js';
import { MAX_YAML_BYTES, parseBounded, tooDeepAt } from '../../src/manifest/bounded-yaml.js';
import { parseManifest } from '../../src/manifest/load.js';
import { exampleManifestText } from '../helpers/context.js';

/** Refused as a ValidationError naming the file and a line, within `ms` (printed, not asserted: no timed assertions). */
function refused(text: string, message: RegExp): ValidationError {
  const t = performance.now();
  let err: unknown;
  try {
    parseManifest(text, 'card/node.yaml');
  } catch (e) {
    err = e;
  }
  console.log(`${message.source.slice(0, 30)}: refused in ${(performance.now() - t).toFixed(0)} ms (${text.length} bytes)`);
  expect(err).toBeInstanceOf(ValidationError);
  const v = err as ValidationError;
  expect(v.file).toBe('card/node.yaml');
  expect(v.issues[0]!.line, v.message).toBeGreaterThan(0);
  expect(v.message).toMatch(message);
  return v;
}

describe('bounded YAML: refused early, naming file and line', () => {
  it('more than 1 MiB is refused unread', () => {
    refused(`schemaVersion: 1\n# ${'x'.repeat(MAX_YAML_BYTES)}\n`, /limit is 1048576/);
  });

  it.each([
    ['flow brackets', '['.repeat(500_000) + ']'.repeat(500_000)],
    ['flow mappings', '{a: '.repeat(100_000) + '1' + '}'.repeat(100_000)],
    ['compact sequences', '- '.repeat(400_000) + 'x\n'],
    ['indentation', Array.from({ length: 1000 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n') + ' 1\n'],
    ['complex keys', '? '.repeat(300_000) + 'x\n'],
  ])('nesting bombs (%s) are refused before parsing', (_n, text) => {
    refused(text, /nesting deeper than 64 levels/);
  });

  it.each([
    ['a bracket bomb after a quote inside a block scalar', 'a: |\n  "\nb: ' + '['.repeat(100_000)],
    ['a bracket bomb after a plain scalar holding a quote', 'a: b"c\nd: ' + '['.repeat(100_000)],
    ['flow nesting hidden behind closing brackets in strings', '[ "]", '.repeat(100_000)],
    ['a dash bomb after a quote inside a block scalar', 'a: |\n  "\nb:\n' + '- '.repeat(100_000) + 'x\n'],
  ])('%s is still found', (_n, text) => {
    refused(text, /nesting deeper than 64 levels/);
  });

  it('does not count brackets inside quotes or comments', () => {
    expect(tooDeepAt(`a: "${'['.repeat(100)}"\nb: '${'{'.repeat(100)}'\n# ${'['.repeat(100)}\nc: x # ${'['.repeat(100)}\n`)).toBeUndefined();
    expect(tooDeepAt(exampleManifestText)).toBeUndefined();
  });

  it('an alias bomb names its line', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 10; i++) lines.push(`${'b'.repeat(i)}: &${'a'.repeat(i + 1)} [${Array(9).fill(`*${'a'.repeat(i)}`).join(', ')}]`);
    const v = refused(lines.join('\n') + '\n', /aliases expand too far/);
    expect(v.issues[0]!.line).toBe(2);
  });

  it.each([
    ['an empty file', '', /file is empty/],
    ['only comments', '# nothing\n', /file is empty/],
    ['a complex key', 'schemaVersion: 1\n? [a, b]\n: c\n', /keys must be plain scalars/],
    ['a mapping as key', 'schemaVersion: 1\n{a: 1}: c\n', /keys must be plain scalars|Nested mappings/],
    ['a duplicate key', 'schemaVersion: 1\nnode: {}\nnode: {}\n', /duplicate key "node"/],
    ['a scalar document', '42\n', /\(root\)/],
  ])('%s names a line', (_n, text, message) => {
    refused(text, message);
  });

  it('20,000 labels: the duplicate-key check is one pass (linear), not pairwise', () => {
    const labels = Array.from({ length: 20_000 }, (_, i) => `    l${i}.example.com/k: v${i}`).join('\n');
    const text = exampleManifestText.replace(/^  labels:\n/m, `  labels:\n${labels}\n`);
    const t = performance.now();
    const m = parseManifest(text, 'big.yaml');
    console.log(`20,000 labels: parsed and validated in ${(performance.now() - t).toFixed(0)} ms`);
    expect(Object.keys(m.manifest.k3s!.labels).length).toBeGreaterThanOrEqual(20_000);
    const dup = text.replace('    l19999.example.com/k: v19999', '    l5.example.com/k: again');
    const v = refused(dup, /duplicate key "l5\.example\.com\/k"/);
    expect(v.issues[0]!.line).toBe(text.split('\n').findIndex((l) => l.startsWith('    l19999.')) + 1);
  });

  it('parseBounded gives the document, its lines and the data', () => {
    const b = parseBounded('a:\n  b: 1\n', 'f.yaml');
    expect(b.data).toEqual({ a: { b: 1 } });
  });
});
