// The probe is a shell script: run here with sh, against a stand-in `node` on PATH and a cache dir
// in a temp dir, it shows when it becomes the burn agent (fast=go) and when it leaves the caller
// to go on from its facts (fast=no). As root here (CI), its privilege is "root".
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseProbe, probeArgv } from '../../src/remote/probe.js';
import { agentArgs } from '../../src/remote/run-agent.js';
import { HostError } from '../../src/remote/errors.js';

const root = process.getuid?.() === 0;
if (!root) console.warn('probe fast-path tests skipped: the stand-in host needs uid 0 (priv=root) to reach the fast path');

describe.skipIf(!root)('the probe (probe.ts), run by sh', () => {
  let dir = '';
  const img = 'a'.repeat(64);
  const bmap = 'b'.repeat(64);
  const agent = agentArgs({ sha256: img, bmapSha256: bmap, target: '/dev/sdz', kind: 'device', verify: true });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'metis-probe-'));
    mkdirSync(join(dir, 'bin'));
    mkdirSync(join(dir, 'cache/blobs/sha256'), { recursive: true });
    mkdirSync(join(dir, 'cache/agent'), { recursive: true });
    writeFileSync(join(dir, 'cache/agent/metis-x.cjs'), 'bundle');
    for (const h of [img, bmap]) writeFileSync(join(dir, 'cache/blobs/sha256', h), '');
    nodeVersion('v18.20.4');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const nodeVersion = (v: string) => {
    writeFileSync(join(dir, 'bin/node'), `#!/bin/sh\nif [ "$1" = --version ]; then echo ${v}; exit 0; fi\necho "AGENT $*"\n`);
    chmodSync(join(dir, 'bin/node'), 0o755);
  };
  const bundleSha = execFileSync('sh', ['-c', 'printf bundle | sha256sum | cut -c1-64'], { encoding: 'utf8' }).trim();
  const run = (over: { sha?: string; blobs?: string[]; agent?: string[] } = {}) => {
    const argv = probeArgv({ cacheDir: join(dir, 'cache'), bundleName: 'metis-x.cjs', bundleSha256: over.sha ?? bundleSha, blobs: over.blobs ?? [img, bmap] }, over.agent ?? agent);
    return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', env: { PATH: `${join(dir, 'bin')}:/usr/bin:/bin`, HOME: dir } });
  };

  it('everything there, no password: says fast=go and execs the agent with its arguments', () => {
    const out = run();
    const lines = out.trim().split('\n');
    expect(lines.at(-2)).toBe('fast=go');
    expect(lines.at(-1)).toBe(`AGENT ${join(dir, 'cache/agent/metis-x.cjs')} burn-agent burn --cache ${join(dir, 'cache')} ${agent.join(' ')}`);
    const facts = parseProbe('h', out, 0, '', [img, bmap]);
    expect(facts).toMatchObject({ privilege: 'root', nodeVersion: '18.20.4', bundleSha256: bundleSha, cacheDir: join(dir, 'cache') });
    expect([...facts.cached].sort()).toEqual([img, bmap]);
  });

  it.each([
    ['unset', undefined, '.cache/metis-flasher'],
    ['empty', '', '.cache/metis-flasher'],
    ['relative (ignored, as the XDG spec says)', 'rel', '.cache/metis-flasher'],
    ['absolute', '/@/xdg', 'xdg/metis-flasher'],
  ])('no --cache, XDG_CACHE_HOME %s: the host cache follows the XDG spec', (_what, xdg, want) => {
    const argv = probeArgv({ bundleName: 'metis-x.cjs', blobs: [] }, []);
    const env: NodeJS.ProcessEnv = { PATH: `${join(dir, 'bin')}:/usr/bin:/bin`, HOME: dir };
    if (xdg !== undefined) env['XDG_CACHE_HOME'] = xdg.replace('/@', dir);
    const out = execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', env });
    expect(parseProbe('h', out, 0, '', []).cacheDir).toBe(join(dir, want));
  });

  it.each([
    ['the bmap is not cached', () => rmSync(join(dir, 'cache/blobs/sha256', bmap)), {}],
    ['another bundle is wanted', () => {}, { sha: 'c'.repeat(64) }],
    ['the bundle is missing', () => rmSync(join(dir, 'cache/agent/metis-x.cjs')), {}],
    ['node is too old', () => nodeVersion('v16.20.0'), {}],
    ['node prints no version', () => nodeVersion(''), {}],
  ])('%s: fast=no, no agent, facts for the caller', (_what, change, over) => {
    change();
    const out = run(over);
    expect(out).not.toContain('AGENT');
    expect(out.trim().split('\n').at(-1)).toBe('fast=no');
  });

  it('without agent arguments it only probes (no fast line), and a too-old node is the caller’s error', () => {
    nodeVersion('v16.20.0');
    const out = run({ agent: [] });
    expect(out).not.toMatch(/fast=|AGENT/);
    expect(() => parseProbe('h', out, 0, '', [])).toThrow(HostError);
    expect(() => parseProbe('h', out, 0, '', [])).toThrow(/node 16\.20\.0 .* too old/);
  });
});
