import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/bootstrap/log.js';
import { expect } from 'vitest';
import { parseManifest, manifestSecrets } from '../../src/manifest/load.js';
import type { Manifest } from '../../src/manifest/schema.js';
import { Redactor } from '../../src/lib/redact.js';
import { createContext } from '../../src/bootstrap/context.js';
import { applyChange } from '../../src/bootstrap/engine/apply.js';
import type { FactSources } from '../../src/bootstrap/facts/index.js';
import type { ApplyResult, Change, CheckResult, Context, Module } from '../../src/bootstrap/types.js';

export const exampleManifestText = readFileSync(new URL('../../examples/node.yaml', import.meta.url), 'utf8');

export function exampleManifest(): Manifest {
  return parseManifest(exampleManifestText, 'examples/node.yaml').manifest;
}

/** A fresh temp dir; call the returned cleanup in afterEach. */
export function tempRoot(prefix = 'metis-root-'): { root: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), prefix));
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

export interface TestContext extends Context {
  /** Everything logged so far, as text (to search for secrets). */
  logs: () => string;
}

/**
 * A module context on a temp sysroot. Never live unless a test asks (`live: true`) for a root
 * it owns: a test must not run live commands (hostname, systemctl start, mount) on this machine.
 */
export function makeContext(opts: {
  root: string;
  manifest?: Manifest;
  checkMode?: boolean;
  live?: boolean;
  templates?: Map<string, string>;
  stateDir?: string;
  manifestPath?: string;
  factSources?: Partial<FactSources>;
}): TestContext {
  const manifest = opts.manifest ?? exampleManifest();
  const parsed = parseManifest(exampleManifestText);
  const redact = new Redactor([...parsed.secrets.map((s) => s.value), ...manifestSecretValues(manifest)]);
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  const log = createLogger({ redact, secretPaths: parsed.secrets.map((s) => s.path), dest: sink, level: 'debug' });
  const ctx = createContext({
    root: opts.root,
    live: opts.live ?? false,
    checkMode: opts.checkMode ?? false,
    log,
    redact,
    manifest,
    manifestPath: opts.manifestPath ?? '/boot/firmware/metis/node.yaml',
    stateDir: opts.stateDir ?? join(opts.root, 'var/lib/metis'),
    templates: opts.templates ?? new Map(),
    factSources: opts.factSources,
  });
  return Object.assign(ctx, { logs: () => chunks.join('') });
}

/** Asserts a check planned a change and carries it out as the engine does (actions, or the module's apply). */
export async function applyPlanned<A>(mod: Module<A>, args: A, ctx: Context, check: CheckResult<unknown>): Promise<ApplyResult> {
  if (check.status !== 'change') throw new Error(`${mod.name}: expected a change, got ${check.status}: ${check.reason ?? ''}`);
  return applyChange(mod, args, ctx, check);
}

/**
 * The loop every module test runs: check says change, apply, check says ok.
 * Returns the first check's change for further assertions.
 */
export async function convergeLoop<A>(mod: Module<A>, rawArgs: unknown, ctx: Context): Promise<Change<unknown>> {
  const args = mod.args.parse(rawArgs);
  const first = await mod.check(args, ctx);
  expect(first.status, `first check of ${mod.name}: ${first.reason ?? ''}`).toBe('change');
  const applied = await applyPlanned(mod, args, ctx, first);
  expect(applied.failed).toBeUndefined();
  const second = await mod.check(args, ctx);
  expect(second.status, `second check of ${mod.name}: ${second.reason ?? ''} ${JSON.stringify(second)}`).toBe('ok');
  return first as Change<unknown>;
}

function manifestSecretValues(m: Manifest): string[] {
  return manifestSecrets(m).map((s) => s.value);
}
