import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { expect } from 'vitest';
import { parseManifest, manifestSecrets } from '../../src/manifest/load.js';
import type { Manifest } from '../../src/manifest/schema.js';
import { Redactor } from '../../src/lib/redact.js';
import { RootedFs } from '../../src/bootstrap/rooted-fs.js';
import { createExec } from '../../src/bootstrap/exec.js';
import { Facts } from '../../src/bootstrap/facts.js';
import type { CheckResult, Context, Module } from '../../src/bootstrap/types.js';

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

export function makeContext(opts: { root: string; manifest?: Manifest; checkMode?: boolean; templates?: Map<string, string>; stateDir?: string }): TestContext {
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
  const log = pino({ level: 'debug' }, sink);
  return {
    root: opts.root,
    live: opts.root === '/',
    checkMode: opts.checkMode ?? false,
    fs: new RootedFs(opts.root),
    exec: createExec(log, redact),
    log,
    facts: new Facts(),
    redact,
    manifest,
    manifestPath: '/boot/firmware/metis/node.yaml',
    stateDir: opts.stateDir ?? join(opts.root, 'var/lib/metis'),
    templates: opts.templates ?? new Map(),
    logs: () => chunks.join(''),
  };
}

/**
 * The loop every module test runs: check says change, apply, check says ok.
 * Returns the first check's result for further assertions.
 */
export async function convergeLoop<A>(mod: Module<A>, rawArgs: unknown, ctx: Context): Promise<CheckResult> {
  const args = mod.args.parse(rawArgs);
  const first = await mod.check(args, ctx);
  expect(first.status, `first check of ${mod.name}: ${first.reason ?? ''}`).toBe('change');
  const applied = await mod.apply(args, ctx, first);
  expect(applied && 'failed' in applied ? applied.failed : undefined).toBeUndefined();
  const second = await mod.check(args, ctx);
  expect(second.status, `second check of ${mod.name}: ${second.reason ?? ''} ${JSON.stringify(second.diff ?? [])}`).toBe('ok');
  return first;
}

function manifestSecretValues(m: Manifest): string[] {
  return manifestSecrets(m).map((s) => s.value);
}
