import { describe, expect, it } from 'vitest';
import type { RootDisk } from '../../../src/bootstrap/facts/root-disk.js';
import { growrootModule, planGrow } from '../../../src/bootstrap/modules/growroot.js';
import { makeContext } from '../../helpers/context.js';
import { useSysroot } from '../sysroot.js';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
const disk = (o: Partial<RootDisk>): RootDisk => ({
  partDev: '/dev/mmcblk0p2',
  diskDev: '/dev/mmcblk0',
  partNumber: 2,
  partStart: 257 * MIB,
  partSize: 1 * GIB,
  diskSize: 29.7 * GIB,
  followedBy: null,
  table: 'mbr',
  fsSize: 1 * GIB,
  ...o,
});

describe('planGrow: the root partition to the end of the card, the filesystem to its partition', () => {
  it.each<[string, Partial<RootDisk>, string, boolean | undefined, string]>([
    ['a fresh card', {}, 'change', true, 'grow partition 2 of /dev/mmcblk0 and its filesystem from 1.0 GiB to 29.4 GiB'],
    ['GPT keeps its 33 backup sectors', { table: 'gpt', diskSize: 2 * GIB + 257 * MIB + 33 * 512 }, 'change', true, 'from 1.0 GiB to 2.0 GiB'],
    ['grown partition, filesystem not yet', { partSize: 29.7 * GIB - 257 * MIB }, 'change', false, 'grow its filesystem from 1.0 GiB to 29.4 GiB'],
    ['done', { partSize: 29.7 * GIB - 257 * MIB, fsSize: 29.7 * GIB - 257 * MIB }, 'ok', undefined, 'fills its partition'],
    ['less room than minGrow (alignment leftovers)', { diskSize: 257 * MIB + GIB + 8 * MIB }, 'ok', undefined, 'fills its partition'],
    ['another partition follows', { followedBy: '/dev/mmcblk0p3' }, 'ok', undefined, '/dev/mmcblk0p3 follows it, so it is not grown'],
    ['not ext', { fsSize: null }, 'skip', undefined, 'is not ext2/3/4'],
    ['MBR stops at 2 TiB', { diskSize: 4096 * GIB }, 'change', true, 'to 2047.7 GiB'],
  ])('%s', (_, o, status, growPart, reason) => {
    const r = planGrow(disk(o), 16 * MIB);
    expect(r.status).toBe(status);
    const argv = r.status === 'change' ? r.actions.map((x) => (x.kind === 'run' ? x.argv[0] : x.kind)) : undefined;
    expect(argv).toEqual(growPart === undefined ? undefined : growPart ? ['sfdisk', 'partx', 'resize2fs'] : ['resize2fs']);
    expect(r.reason).toContain(reason);
  });

  it('the diff shows partition and filesystem sizes before and after', () => {
    const planned = planGrow(disk({}), 16 * MIB);
    expect(planned.status === 'change' && planned.diff).toEqual([
      { target: 'partition /dev/mmcblk0p2', before: '1.0 GiB', after: '29.4 GiB' },
      { target: 'filesystem on /dev/mmcblk0p2', before: '1.0 GiB', after: '29.4 GiB' },
    ]);
  });
});

describe('growroot module', () => {
  let root = '';
  useSysroot('metis-mod-growroot-', (r) => (root = r));

  it('under --root (or without systemd) it is skipped and spawns nothing', async () => {
    const ctx = makeContext({ root });
    const r = await growrootModule.check(growrootModule.args.parse({}), ctx);
    expect(r).toEqual({ status: 'skip', reason: 'grow /: not live (--root, or systemd not running)' });
    expect(ctx.exec.count()).toBe(0);
  });

  it.each([{ mount: 'relative' }, { minGrowMiB: 0 }, { other: 1 }])('refuses args %j', (a) => {
    expect(growrootModule.args.safeParse(a).success).toBe(false);
  });
});
