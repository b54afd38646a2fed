import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { run, warmRun, type RunMemo } from '../../../src/bootstrap/engine/run.js';
import { exampleManifestText, tempRoot } from '../../helpers/context.js';
import { hashTree, makeSysroot } from '../sysroot.js';

// The boot run warms the full run up while it waits for metis-online.target: manifest-only work,
// nothing read from or written to the system beyond the manifest.
describe('warmRun (the boot run, during its wait)', () => {
  const { root, cleanup } = tempRoot('metis-warm-');
  afterAll(() => cleanup());
  const logDest = new Writable({ write: (_c, _e, cb) => cb() });

  it('renders every task and handler into the memo, changes nothing, and the full run reuses them', async () => {
    makeSysroot(root);
    const manifestPath = join(root, 'node.yaml');
    writeFileSync(manifestPath, exampleManifestText);
    const before = hashTree(root);
    const memo: RunMemo = {};
    await expect(warmRun({ root, manifestPath, checkMode: false, memo, nodeReport: false })).resolves.toBeNull();
    expect(hashTree(root)).toEqual(before);
    const { tasks, handlers } = memo.tasks!;
    expect(tasks.length).toBeGreaterThan(10);
    expect(memo.rendered!.size).toBe(tasks.length + handlers.length);
    const warmed = new Map(memo.rendered);
    const report = await run({ root, manifestPath, checkMode: true, memo, logDest, nodeReport: false });
    expect(report.error).toBeUndefined();
    expect(report.tasks.length).toBeGreaterThan(10);
    // The same rendered objects: the full run rendered nothing again.
    for (const [t, r] of warmed) expect(memo.rendered!.get(t)).toBe(r);
    expect(memo.rendered!.size).toBe(warmed.size);
  });

  it('a manifest that does not load leaves the memo empty and does not throw (the full run reports it)', async () => {
    const manifestPath = join(root, 'bad.yaml');
    writeFileSync(manifestPath, 'schemaVersion: 1\nnode: [\n');
    const memo: RunMemo = {};
    // null: nothing to connect to (the API warm-up's outcome is for a manifest with k3s that loads).
    await expect(warmRun({ root, manifestPath, checkMode: false, memo, nodeReport: false })).resolves.toBeNull();
    expect(memo.rendered).toBeUndefined();
    expect(memo.apis).toBeUndefined();
    const report = await run({ root, manifestPath, checkMode: true, memo, logDest, nodeReport: false });
    expect(report.error).toMatch(/bad\.yaml/);
  });
});
