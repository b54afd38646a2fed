import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { NOT_LIVE } from '../context.js';
import { rootDisk, type RootDisk } from '../facts/root-disk.js';
import type { CheckResult, Context, DiffEntry, Module } from '../types.js';

const args = z.strictObject({
  /** The mount point whose filesystem grows. */
  mount: z.string().regex(/^\//).default('/'),
  /** Less room than this is left alone (alignment leftovers, a last group too small to add). */
  minGrowMiB: z.number().int().min(1).max(1024).default(16),
});
type Args = z.output<typeof args>;

export interface GrowPlan {
  diskDev: string;
  partDev: string;
  partNumber: number;
  /** The partition grows first; the filesystem always does. */
  growPart: boolean;
}

const MIB = 1024 * 1024;
const SECTOR = 512;
/** GPT keeps its backup header and entries in the last 33 sectors; MBR addresses at most 2^32 sectors. */
const GPT_TAIL = 33 * SECTOR;
const MBR_LIMIT = 2 ** 32 * SECTOR;

const size = (b: number) => (b >= 1024 * MIB ? `${(b / 1024 / MIB).toFixed(1)} GiB` : `${Math.round(b / MIB)} MiB`);

/** What growing the root needs on this disk: the partition to the disk's end, the filesystem to the partition's. */
export function planGrow(d: RootDisk, minGrow: number): CheckResult<GrowPlan> {
  if (d.fsSize === null) return { status: 'skip', reason: `${d.partDev} is not ext2/3/4: only ext filesystems are grown` };
  const end = d.table === 'gpt' ? d.diskSize - GPT_TAIL : Math.min(d.diskSize, MBR_LIMIT);
  const room = end - (d.partStart + d.partSize);
  const growPart = d.followedBy === null && room >= minGrow;
  const partSize = growPart ? d.partSize + room : d.partSize;
  const growFs = partSize - d.fsSize >= minGrow;
  if (!growPart && !growFs) {
    const why = d.followedBy && room >= minGrow ? `; ${d.followedBy} follows it, so it is not grown` : '';
    return { status: 'ok', reason: `${d.partDev} (${size(d.fsSize)}) fills its partition${why}` };
  }
  const diff: DiffEntry[] = [];
  if (growPart) diff.push({ target: `partition ${d.partDev}`, before: size(d.partSize), after: size(partSize) });
  diff.push({ target: `filesystem on ${d.partDev}`, before: size(d.fsSize), after: size(partSize) });
  return {
    status: 'change',
    reason: `grow ${growPart ? `partition ${d.partNumber} of ${d.diskDev} and ` : ''}its filesystem from ${size(d.fsSize)} to ${size(partSize)}`,
    diff,
    plan: { diskDev: d.diskDev, partDev: d.partDev, partNumber: d.partNumber, growPart },
  };
}

/**
 * The root filesystem fills the card, as Raspberry Pi OS's first boot and cloud-init's growpart +
 * resizefs do: class images are sized to their contents, and k3s keeps container images on the root.
 * Only the last partition of the disk grows, only ext2/3/4, online; never shrinks.
 */
export const growrootModule: Module<Args, GrowPlan> = {
  name: 'growroot',
  args,
  async check(a, ctx) {
    if (!ctx.live) return { status: 'skip', reason: `grow ${a.mount}: ${NOT_LIVE}` };
    // systemd writes this in containers (nspawn, docker…): the disk under the root is the host's.
    const container = await readFile('/run/systemd/container', 'utf8').then((s) => s.trim(), () => null);
    if (container !== null) return { status: 'skip', reason: `in a container (${container || 'unknown'}): the disk belongs to the host` };
    const d = await ctx.facts.get(`root-disk:${a.mount}`, () => rootDisk(a.mount));
    if (!d) return { status: 'skip', reason: `${a.mount} is not on a disk partition` };
    return planGrow(d, a.minGrowMiB * MIB);
  },
  async apply(a, ctx, { plan }) {
    const p = plan!;
    if (p.growPart) {
      // --no-reread: the disk is in use (it holds /); partx then tells the kernel the new size.
      await ctx.exec('sfdisk', ['--no-reread', '--no-tell-kernel', '-q', '-N', String(p.partNumber), p.diskDev], { input: ', +\n' });
      await ctx.exec('partx', ['-u', '--nr', String(p.partNumber), p.diskDev]);
    }
    await ctx.exec('resize2fs', [p.partDev]);
    ctx.facts.invalidate(`root-disk:${a.mount}`);
    return verify(a, ctx);
  },
};

async function verify(a: Args, ctx: Context) {
  const d = await rootDisk(a.mount);
  if (!d || d.fsSize === null) return { failed: `${a.mount}: cannot read the grown filesystem` };
  const after = planGrow(d, a.minGrowMiB * MIB);
  const facts = { partition: size(d.partSize), filesystem: size(d.fsSize) };
  return after.status === 'change' ? { facts, failed: `still not grown: ${after.reason}` } : { facts };
}
