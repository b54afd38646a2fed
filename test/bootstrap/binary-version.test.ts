import { mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { binaryVersion, VERSION_CACHE_FILE } from '../../src/bootstrap/binary-version.js';
import { makeContext, tempRoot } from '../helpers/context.js';

let root: string;
let cleanup: () => void;
beforeEach(() => {
  ({ root, cleanup } = tempRoot('metis-binver-'));
  mkdirSync(join(root, 'usr/local/bin'), { recursive: true });
  writeFileSync(join(root, 'usr/local/bin/k3s'), '#!/bin/sh\necho v1\n', { mode: 0o755 });
});
afterEach(() => cleanup());

const BIN = '/usr/local/bin/k3s';
function prober(answer: string | null = 'v1.31.5+k3s1') {
  let calls = 0;
  return { probe: async () => (calls++, answer), calls: () => calls };
}

describe('binaryVersion: `k3s --version` once per binary file', () => {
  it('probes once; the same file answers from the cache; a replaced file is probed again, even with its old mtime', async () => {
    const ctx = makeContext({ root });
    const p = prober();
    expect(await binaryVersion(ctx, BIN, p.probe)).toBe('v1.31.5+k3s1');
    expect(await binaryVersion(ctx, BIN, p.probe)).toBe('v1.31.5+k3s1');
    expect(p.calls()).toBe(1);
    const file = join(ctx.stateDir, VERSION_CACHE_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')))).toEqual([BIN]);
    // Rewritten in place, same size, mtime put back: the ctime still moved.
    const abs = join(root, BIN);
    const before = statSync(abs);
    await new Promise((r) => setTimeout(r, 20));
    writeFileSync(abs, '#!/bin/sh\necho v2\n');
    utimesSync(abs, before.atime, before.mtime);
    const q = prober('v1.32.0+k3s1');
    expect(await binaryVersion(ctx, BIN, q.probe)).toBe('v1.32.0+k3s1');
    expect(q.calls()).toBe(1);
    expect(await binaryVersion(ctx, BIN, q.probe)).toBe('v1.32.0+k3s1');
    expect(q.calls()).toBe(1);
  });

  it('a binary that gives no version is asked again next time; an unreadable cache is rewritten', async () => {
    const ctx = makeContext({ root });
    const none = prober(null);
    expect(await binaryVersion(ctx, BIN, none.probe)).toBeNull();
    expect(await binaryVersion(ctx, BIN, none.probe)).toBeNull();
    expect(none.calls()).toBe(2);
    mkdirSync(ctx.stateDir, { recursive: true });
    writeFileSync(join(ctx.stateDir, VERSION_CACHE_FILE), '{not json');
    const p = prober();
    expect(await binaryVersion(ctx, BIN, p.probe)).toBe('v1.31.5+k3s1');
    expect(await binaryVersion(ctx, BIN, p.probe)).toBe('v1.31.5+k3s1');
    expect(p.calls()).toBe(1);
  });

  it('a missing binary is probed every time (the check then says it is missing)', async () => {
    const ctx = makeContext({ root });
    const p = prober(null);
    expect(await binaryVersion(ctx, '/usr/local/bin/none', p.probe)).toBeNull();
    expect(p.calls()).toBe(1);
  });
});
