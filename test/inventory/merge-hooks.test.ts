import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/lib/errors.js';
import { loadInventory } from '../../src/inventory/load.js';
import { nodeManifest } from '../../src/inventory/merge.js';
import { mergeBoot, mergeBy } from '../../src/inventory/merge-hooks.js';
import { secretResolver } from '../../src/inventory/secrets.js';

const EXAMPLE = new URL('../../inventory', import.meta.url).pathname;
const TOKEN = `K10${'cd'.repeat(32)}::server:hhk-test-password`;
const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function edited(file: string, append: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hhk-inv-'));
  dirs.push(dir);
  await cp(EXAMPLE, dir, { recursive: true });
  const p = join(dir, file);
  await writeFile(p, `${await readFile(p, 'utf8')}${append}`);
  return dir;
}

describe('inventory hooks: class, then node', () => {
  it('the example: the PoE fan curve from the class, one line replaced by the node, boot path from the class image', async () => {
    const inv = await loadInventory(EXAMPLE);
    const resolve = secretResolver(EXAMPLE, { METIS_K3S_TOKEN: TOKEN, SOPS_AGE_KEY_FILE: join(EXAMPLE, 'demo-age-key.txt'), PATH: process.env['PATH'] });
    const t13 = await nodeManifest(inv, 'titan-13', resolve);
    expect(t13.boot).toEqual({
      path: '/boot/firmware',
      config: { all: ['dtoverlay=rpi-poe-plus', 'dtparam=poe_fan_temp0=45000', 'dtparam=poe_fan_temp1=60000', 'dtparam=poe_fan_temp2=70000', 'dtparam=poe_fan_temp3=80000'] },
      cmdline: { add: ['cgroup_memory=1', 'cgroup_enable=memory'], remove: [] },
    });
    const t15 = await nodeManifest(inv, 'titan-15', resolve);
    expect(t15.boot?.config['all']).toContain('dtparam=poe_fan_temp0=50000');
    expect(t15.files.map((f) => f.path)).toEqual(['/etc/modules-load.d/metis-longhorn.conf']);
    expect(t15.tasks.map((t) => [t.name, t.after])).toEqual([['dm_crypt loaded for Longhorn', 'boot']]);
    // A class without hooks gives none.
    const t0a = await nodeManifest(inv, 'titan-0a', resolve);
    expect([t0a.files, t0a.tasks, t0a.boot]).toEqual([[], [], undefined]);
  });

  it('a node entry replaces the class entry of the same path or name in place; others are appended', async () => {
    const dir = await edited(
      'nodes/titan-15.yaml',
      `files:\n  - { path: /etc/modules-load.d/metis-longhorn.conf, content: "dm_crypt\\nbrd\\n" }\n  - { path: /etc/extra, content: x }\ntasks:\n  - name: dm_crypt loaded for Longhorn\n    command: { argv: [/usr/sbin/modprobe, dm_crypt], creates: /sys/module/dm_crypt }\n`,
    );
    const inv = await loadInventory(dir);
    const t15 = await nodeManifest(inv, 'titan-15', secretResolver(dir, { METIS_K3S_TOKEN: TOKEN }));
    expect(t15.files.map((f) => [f.path, f.content])).toEqual([['/etc/modules-load.d/metis-longhorn.conf', 'dm_crypt\nbrd\n'], ['/etc/extra', 'x']]);
    expect(t15.tasks).toHaveLength(1);
    expect(t15.tasks[0]).toMatchObject({ command: { creates: '/sys/module/dm_crypt' } });
    expect(t15.tasks[0]!['after']).toBeUndefined(); // replaced whole, not deep-merged: the node's entry as written
  });

  // The path is the merged manifest's: the class's file comes first (files.0), the node's second.
  it('a node notify naming no handler is an error naming the node file and the field', async () => {
    const dir = await edited('nodes/titan-15.yaml', `files:\n  - { path: /etc/x, content: x, notify: [restart fan] }\n`);
    const inv = await loadInventory(dir);
    const err = await nodeManifest(inv, 'titan-15', secretResolver(dir, { METIS_K3S_TOKEN: TOKEN })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).message).toMatch(/titan-15\.yaml[\s\S]*files\.1\.notify\.0[\s\S]*no handler named "restart fan"/);
  });

  it('a bad hook in a class file is refused at load, naming the file and line', async () => {
    const dir = await edited('classes/rpi4-longhorn.yaml', `handlers:\n  - name: restart fan\n    network: {}\n`);
    await expect(loadInventory(dir)).rejects.toThrow(/rpi4-longhorn\.yaml[\s\S]*handlers\.0\.network[\s\S]*unknown module/);
  });

  it('mergeBy and mergeBoot', () => {
    expect(mergeBy((x: { k: string; v: number }) => x.k, [{ k: 'a', v: 1 }, { k: 'b', v: 2 }], [{ k: 'b', v: 3 }, { k: 'c', v: 4 }])).toEqual([
      { k: 'a', v: 1 },
      { k: 'b', v: 3 },
      { k: 'c', v: 4 },
    ]);
    const merged = mergeBoot(
      { config: { all: ['dtoverlay=a', 'dtparam=t0=1', 'arm_boost=1'], pi5: ['x=1'] }, cmdline: { add: ['cgroup_memory=1', 'quiet'], remove: ['splash'] } },
      { config: { all: ['arm_boost=0', 'dtoverlay=b'] }, cmdline: { add: ['splash'], remove: ['quiet'] } },
    );
    expect(merged).toEqual({ config: { all: ['dtoverlay=a', 'dtparam=t0=1', 'arm_boost=0', 'dtoverlay=b'], pi5: ['x=1'] }, cmdline: { add: ['cgroup_memory=1', 'splash'], remove: ['quiet'] } });
  });
});
