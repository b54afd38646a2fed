// loadInventory starts every file's read at once (at most READ_AHEAD in flight) and judges the
// files in order, as if read one by one: these rows check both halves against the real files.
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { MetisError, ValidationError } from '../../src/lib/errors.js';

const reads = vi.hoisted(() => ({ inFlight: 0, max: 0, started: 0 }));
vi.mock('../../src/manifest/read-bounded.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/manifest/read-bounded.js')>();
  return {
    readBounded: async (file: string, max: number) => {
      reads.started++;
      reads.max = Math.max(reads.max, ++reads.inFlight);
      try {
        // Long enough that reads started together overlap, whatever the machine's speed.
        await new Promise((r) => setTimeout(r, 20));
        return await real.readBounded(file, max);
      } finally {
        reads.inFlight--;
      }
    },
  };
});
const { loadInventory } = await import('../../src/inventory/load.js');

const EXAMPLE = new URL('../../inventory', import.meta.url).pathname;
const CLASSES = 4;
const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
afterEach(() => Object.assign(reads, { inFlight: 0, max: 0, started: 0 }));

async function copy(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'metis-read-ahead-'));
  dirs.push(dir);
  await cp(EXAMPLE, dir, { recursive: true });
  return dir;
}

/** `n` more valid worker nodes (w-100 … at .100 …). */
async function addNodes(dir: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const name = `w-${100 + i}`;
    await writeFile(join(dir, 'nodes', `${name}.yaml`), `hostname: ${name}\nclass: rpi5-worker\naddress: 192.168.22.${100 + i}/24\n`);
  }
}

describe('inventory read-ahead', () => {
  it('reads the files of each directory 8 at a time, the directories together, and loads them all', async () => {
    const dir = await copy();
    await addNodes(dir, 40);
    const inv = await loadInventory(dir);
    expect(inv.nodes.size).toBe(48);
    expect(reads.started).toBe(1 + CLASSES + 48);
    // cluster.yaml, every class file and 8 node files at once; never more (unbounded: all 53).
    expect(reads.max).toBeGreaterThan(8);
    expect(reads.max).toBeLessThanOrEqual(1 + CLASSES + 8);
  });

  it('judges files in order: a bad cluster.yaml is reported, not an unreadable node file after it', async () => {
    const dir = await copy();
    await writeFile(join(dir, 'cluster.yaml'), 'name: [unclosed\n');
    await mkdir(join(dir, 'nodes', 'zz-dir.yaml'));
    const err = await loadInventory(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).file).toBe(join(dir, 'cluster.yaml'));
  });

  it('judges files in order: an invalid node is reported before a later unreadable one', async () => {
    const dir = await copy();
    await writeFile(join(dir, 'nodes', 'titan-13.yaml'), 'hostname: titan-13\nclass: rpi5-worker\naddress: 10.9.9.9/24\n');
    await mkdir(join(dir, 'nodes', 'zz-dir.yaml'));
    const err = await loadInventory(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).file).toBe(join(dir, 'nodes', 'titan-13.yaml'));
    expect((err as ValidationError).issues[0]?.path).toBe('address');
  });

  it('an unreadable node file, when it is the first bad one, is named with its error code', async () => {
    const dir = await copy();
    await mkdir(join(dir, 'nodes', 'zz-dir.yaml'));
    const err = await loadInventory(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MetisError);
    expect((err as Error).message).toBe(`cannot read ${join(dir, 'nodes', 'zz-dir.yaml')} (EISDIR)`);
  });

  it('a missing classes directory is reported after cluster.yaml is judged, and leaves no unhandled rejection', async () => {
    const dir = await copy();
    await rm(join(dir, 'classes'), { recursive: true });
    const err = await loadInventory(dir).catch((e: unknown) => e);
    expect((err as Error).message).toBe(`cannot read inventory directory ${join(dir, 'classes')} (ENOENT)`);
    await writeFile(join(dir, 'cluster.yaml'), 'name: [unclosed\n');
    const err2 = await loadInventory(dir).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(ValidationError);
    expect((err2 as ValidationError).file).toBe(join(dir, 'cluster.yaml'));
  });
});
