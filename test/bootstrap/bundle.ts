import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const BUNDLE = join(process.cwd(), 'dist/metis-bootstrap.js');

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Builds dist/ when any source, task or template is newer than the bundle (npm test builds first anyway). */
export function ensureBundle(): string {
  const sources = Math.max(...['src', 'tasks', 'templates', 'scripts'].map((d) => (existsSync(d) ? newest(d) : 0)));
  if (!existsSync(BUNDLE) || statSync(BUNDLE).mtimeMs < sources) execFileSync('node', ['scripts/build.mjs'], { stdio: 'pipe' });
  return BUNDLE;
}

/** The node flags of the bundle's `#!/usr/bin/env -S node …` line (systemd and a shell run it through them). */
export function bundleNodeFlags(): string[] {
  const shebang = readFileSync(BUNDLE, 'utf8').split('\n', 1)[0]!;
  const m = /^#!\/usr\/bin\/env -S node((?: --[a-z-]+(?:=\S+)?)*)$/.exec(shebang);
  if (!m) throw new Error(`unexpected shebang: ${shebang}`);
  return m[1]!.trim().split(' ').filter(Boolean);
}
