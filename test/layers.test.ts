import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * Dependency arrows point down:
 *   cli → features (remote, fleet, ui) → programs (burner, image, bootstrap, demo) → inventory
 *   (inventory, identity) → core → manifest → lib.
 * A module may import its own layer or a lower one; programs never import each other, nor do
 * features. The CLI layer is every command entry: the burner's cli.ts and commands/, image/cli.ts,
 * a feature's command.ts / *-command.ts, and remote/agent.ts (the hidden burn-agent command).
 */
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(repo, 'src');

const RANK: Record<string, number> = { lib: 0, manifest: 1, core: 2, inventory: 3, program: 4, feature: 5, cli: 6 };
const FEATURES = new Set(['remote', 'fleet', 'ui']);

export function layerOf(file: string): { layer: keyof typeof RANK; program?: string } {
  const rel = relative(src, file).split('\\').join('/');
  const name = rel.split('/').pop()!;
  if (rel === 'burner/cli.ts' || rel.startsWith('burner/commands/') || rel === 'image/cli.ts' || rel === 'remote/agent.ts') return { layer: 'cli' };
  const top = rel.split('/')[0]!;
  if (FEATURES.has(top) && (name === 'command.ts' || name.endsWith('-command.ts'))) return { layer: 'cli' };
  if (top === 'lib' || top === 'manifest' || top === 'core') return { layer: top };
  if (top === 'inventory' || top === 'identity') return { layer: 'inventory' };
  if (FEATURES.has(top)) return { layer: 'feature', program: top };
  return { layer: 'program', program: top };
}

/** Why `from` may not import `to`, or null when it may. */
export function violation(from: string, to: string): string | null {
  const a = layerOf(from);
  const b = layerOf(to);
  if (RANK[b.layer]! > RANK[a.layer]!) return `${a.layer} imports ${b.layer} (upward)`;
  if (a.layer === b.layer && (a.layer === 'program' || a.layer === 'feature') && a.program !== b.program) return `${a.program} imports ${b.program} (sideways)`;
  return null;
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g)) {
    const spec = (m[1] ?? m[2])!;
    out.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
  }
  return out;
}

describe('dependency layers', () => {
  it('no module under src/ imports upward or sideways', () => {
    const bad: string[] = [];
    for (const file of walk(src)) {
      for (const target of importsOf(file)) {
        const why = violation(file, target);
        if (why) bad.push(`${relative(repo, file)} → ${relative(repo, target)}: ${why}`);
      }
    }
    expect(bad).toEqual([]);
    // The scan sees the imports (a broken pattern would pass vacuously).
    expect(walk(src).flatMap(importsOf).length).toBeGreaterThan(200);
  });

  it('only the two entry points call process.exit', () => {
    const exits = walk(src).filter((f) => /process\.exit\(/.test(readFileSync(f, 'utf8'))).map((f) => relative(repo, f));
    expect(exits.sort()).toEqual(['src/bootstrap/cli.ts', 'src/burner/cli.ts']);
  });

  it('the rule itself catches the imports issue 9 found', () => {
    const at = (p: string) => join(src, p);
    expect(violation(at('burner/inventory/schema.ts'), at('image/spec.ts'))).toMatch(/sideways/);
    expect(violation(at('image/push.ts'), at('burner/source/oci.ts'))).toMatch(/sideways/);
    expect(violation(at('lib/redact.ts'), at('manifest/secret.ts'))).toMatch(/upward/);
    expect(violation(at('burner/commands/burn.ts'), at('bootstrap/version.ts'))).toBeNull();
    expect(violation(at('burner/pipeline.ts'), at('bootstrap/version.ts'))).toMatch(/sideways/);
    expect(violation(at('core/exec.ts'), at('burner/devices.ts'))).toMatch(/upward/);
    expect(violation(at('burner/commands/main.ts'), at('image/cli.ts'))).toBeNull();
    expect(violation(at('burner/pipeline.ts'), at('core/exec.ts'))).toBeNull();
    // Features sit over the one burn() and over each other's programs, never over each other or the CLI.
    expect(violation(at('remote/agent-burn.ts'), at('burner/pipeline.ts'))).toBeNull();
    expect(violation(at('fleet/status.ts'), at('remote/ship.ts'))).toMatch(/sideways/);
    expect(violation(at('ui/jobs.ts'), at('burner/commands/exit-codes.ts'))).toMatch(/upward/);
    expect(violation(at('inventory/merge.ts'), at('burner/pipeline.ts'))).toMatch(/upward/);
    expect(violation(at('inventory/secrets.ts'), at('identity/age.ts'))).toBeNull();
  });
});
