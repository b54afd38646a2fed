import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { asciiOnly } from '../../scripts/embed.mjs';

const BUNDLE = new URL('../../dist/metis.js', import.meta.url);
const built = existsSync(BUNDLE);
if (!built) console.warn('skip: the built CLI test: dist/metis.js missing (npm run build)');

// The build embeds each bundle's main module as one string (scripts/build.mjs, lazyMainPlugin): a
// single character above U+00FF would make V8 hold all of it as a two-byte string.
describe('embedded main module: ASCII only', () => {
  it.each([
    ['…', 'U+2026'],
    ['·', 'U+00B7'],
    ['\u{1F600}', 'U+1F600'],
  ])('refuses code holding %s, naming the entry, the character and where', (ch, u) => {
    const src = `const ok = 1;\nconst t = 'Loading${ch}';\n`;
    expect(() => asciiOnly(src, 'src/burner/commands/main.ts')).toThrow(new RegExp(`^src/burner/commands/main\\.ts: the bundled code has .* \\(${u.replace('+', '\\+')}\\) where it reads .*Loading`));
  });

  it('passes ASCII code through unchanged (escapes are ASCII)', () => {
    const code = 'const page = String.raw`a \\u2026 b`;\nmodule.exports = { page };\n';
    expect(asciiOnly(code, 'x.ts')).toBe(code);
  });

  it.skipIf(!built)('the built CLI embeds its module as a one-byte string', () => {
    const text = readFileSync(BUNDLE, 'latin1');
    expect(text).not.toMatch(/[^\x00-\x7f]/);
    // The literal passed to the loader, as the string it makes: the module's code, ASCII only.
    const literal = /loadWithCodeCache\d*\(('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")/.exec(text)?.[1] ?? '""';
    const code = new Function(`return ${literal};`)() as string;
    expect(code.length).toBeGreaterThan(100_000);
    expect(code).toMatch(/runMetis/);
    expect(code).not.toMatch(/[^\x00-\x7f]/);
  });
});
