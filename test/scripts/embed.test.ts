import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { asciiOnly, embedded } from '../../scripts/embed.mjs';

// How the build puts a bundle's main module into its entry file (scripts/build.mjs, lazyMainPlugin).
const evaluate = (expr: string): unknown => new Function('require', 'Buffer', `return ${expr};`)(createRequire(import.meta.url), Buffer);

describe('embedded main module', () => {
  const code = `const page = String.raw\`a \\u2026 b\`;\nmodule.exports = { page, q: "'\\"\\\\" };\n`.repeat(200);

  it.each([[undefined], ['deflate' as const]])('%s: the expression evaluates to the exact code, a one-byte string', (pack) => {
    const expr = embedded(code, pack);
    const back = evaluate(expr);
    expect(back).toBe(code);
    // One-byte: latin1 round trip is the identity only when every char is ≤ U+00FF.
    expect(Buffer.from(back as string, 'latin1').toString('latin1')).toBe(code);
    if (pack === 'deflate') expect(expr.length).toBeLessThan(code.length / 4);
  });

  it('refuses an unknown pack', () => {
    expect(() => embedded(code, 'zip' as never)).toThrow(/unknown pack zip/);
  });

  it.each([
    ['…', 'U+2026'],
    ['·', 'U+00B7'],
    ['\u{1F600}', 'U+1F600'],
  ])('refuses code holding %s, naming the entry, the character and where', (ch, u) => {
    const src = `const ok = 1;\nconst t = 'Loading${ch}';\n`;
    expect(() => asciiOnly(src, 'src/burner/commands/main.ts')).toThrow(new RegExp(`^src/burner/commands/main\\.ts: the bundled code has .* \\(${u.replace('+', '\\+')}\\) where it reads .*Loading`));
  });

  it('passes ASCII code through unchanged', () => {
    expect(asciiOnly(code, 'x.ts')).toBe(code);
  });
});
