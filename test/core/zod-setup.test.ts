import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { globalConfig } from 'zod/v4/core';
import { z } from 'zod';

describe('zod-setup', () => {
  it('turns off zod’s per-schema `new Function` parsers, with the same results', async () => {
    const before = z.object({ a: z.string(), n: z.number().int() });
    await import('../../src/core/zod-setup.js');
    expect(globalConfig.jitless).toBe(true);
    const after = z.object({ a: z.string(), n: z.number().int() });
    for (const input of [{ a: 'x', n: 1 }, { a: 1, n: 1.5 }, null]) {
      const x = before.safeParse(input);
      const y = after.safeParse(input);
      expect(y.success).toBe(x.success);
      expect(y.error?.issues.map((i) => [i.path.join('.'), i.code])).toEqual(x.error?.issues.map((i) => [i.path.join('.'), i.code]));
    }
  });

  it.each(['src/bootstrap/main.ts', 'src/burner/commands/main.ts'])('%s imports it before anything that builds a schema', (file) => {
    const first = readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8').split('\n').find((l) => l.startsWith('import '));
    expect(first).toMatch(/^import '(\.\.\/)+core\/zod-setup\.js';$/);
  });
});
