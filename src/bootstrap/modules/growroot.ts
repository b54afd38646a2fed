import { z } from 'zod';
import { NOT_LIVE } from '../context.js';
import type { RootDisk } from '../facts/root-disk.js';
import type { Action, ApplyResult, CheckResult, DiffEntry, Module } from '../types.js';

const args = z.strictObject({
  /** The mount point whose filesystem grows. */
  mount: z.string().regex(/^\//).default('/'),
  /** Less room than this is left alone (alignment leftovers, a last group too small to add). */
  minGrowMiB: z.number().int().min(1).max(1024).default(16),
});
type Args = z.output<typeof args>;


const MIB = 1024 * 1024;
const SECTOR = 512;
/** GPT keeps its backup header and entries in the last 33 sectors; MBR addresses at most 2^32 sectors. */
const GPT_TAIL = 33 * SECTOR;
const MBR_LIMIT = 2 ** 32 * SECTOR;

const size = (b: number) => (b >= 1024 * MIB ? `${(b / 1024 / MIB).toFixed(1)} GiB` : `${Math.round(b / MIB)} MiB`);

/** What growing the root needs on this disk: the partition to the disk's end, the filesystem to the partition's. */
export function planGrow(d: RootDisk, minGrow: number): CheckResult {
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
  const grow: Action[] = [
    // --no-reread: the disk is in use (it holds /); partx then tells the kernel the new size.
    { kind: 'run', argv: ['sfdisk', '--no-reread', '--no-tell-kernel', '-q', '-N', String(d.partNumber), d.diskDev], input: ', +\n' },
    { kind: 'run', argv: ['partx', '-u', '--nr', String(d.partNumber), d.diskDev] },
  ];
  return {
    status: 'change',
    reason: `grow ${growPart ? `partition ${d.partNumber} of ${d.diskDev} and ` : ''}its filesystem from ${size(d.fsSize)} to ${size(partSize)}`,
    diff,
    actions: [...(growPart ? grow : []), { kind: 'run', argv: ['resize2fs', d.partDev] }],
  };
}

/**
 * The root filesystem fills the card, as Raspberry Pi OS's first boot and cloud-init's growpart +
 * resizefs do: class images are sized to their contents, and k3s keeps container images on the root.
 * Only the last partition of the disk grows, only ext2/3/4, online; never shrinks.
 */
export const growrootModule: Module<Args> = {
  name: 'growroot',
  args,
  async check(a, ctx) {
    if (!ctx.live) return { status: 'skip', reason: `grow ${a.mount}: ${NOT_LIVE}` };
    const container = await ctx.facts.container();
    if (container !== null) return { status: 'skip', reason: `in a container (${container || 'unknown'}): the disk belongs to the host` };
    const d = await ctx.facts.rootDisk(a.mount);
    if (!d) return { status: 'skip', reason: `${a.mount} is not on a disk partition` };
    return planGrow(d, a.minGrowMiB * MIB);
  },
  /** Imperative: grow, then read the disk again and prove the filesystem fills it. */
  async apply(a, ctx, plan): Promise<ApplyResult> {
    await ctx.execute(plan.actions);
    ctx.facts.forget({ rootDisk: a.mount });
    const d = await ctx.facts.rootDisk(a.mount);
    if (!d || d.fsSize === null) return { failed: `${a.mount}: cannot read the grown filesystem` };
    const after = planGrow(d, a.minGrowMiB * MIB);
    const facts = { partition: size(d.partSize), filesystem: size(d.fsSize) };
    return after.status === 'change' ? { facts, failed: `still not grown: ${after.reason}` } : { facts };
  },
};
