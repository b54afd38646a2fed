import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { exitCodeFor, run } from '../../src/bootstrap/engine/run.js';
import { exampleManifestText } from '../helpers/context.js';
import { useSysroot } from './sysroot.js';

// The repo's own tasks/ and templates/ (every engineer's), converged twice in a Debian-like sysroot.
const minimal = `schemaVersion: 1
node: { hostname: bare-1, class: plain, arch: amd64 }
network:
  ipv4: { address: 10.9.0.5/24 }
`;

let root: string;
useSysroot('metis-tasks-', (r) => (root = r));

describe('repo tasks', () => {
  it.each([
    ['the example manifest', exampleManifestText],
    ['a minimal manifest (no k3s, mounts, keys, iSCSI)', minimal],
  ])('converge a sysroot for %s, then are idempotent', async (_l, text) => {
    const manifestPath = join(root, 'node.yaml');
    writeFileSync(manifestPath, text);
    const logs: string[] = [];
    const logDest = new Writable({ write: (c, _e, cb) => (logs.push(String(c)), cb()) });
    const first = await run({ root, manifestPath, checkMode: false, logDest });
    expect(first.error, logs.join('')).toBeUndefined();
    expect(first.summary.failed, JSON.stringify(first.tasks.filter((t) => t.status === 'failed'))).toBe(0);
    expect(exitCodeFor(first)).toBe(2);
    const second = await run({ root, manifestPath, checkMode: false, logDest });
    expect(second.tasks.filter((t) => t.status === 'changed').map((t) => `${t.name}: ${t.reason}`)).toEqual([]);
    expect(exitCodeFor(second)).toBe(0);
  });
});
