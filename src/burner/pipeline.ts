import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { resolve } from 'node:path';
import { MANIFEST_PATH } from '../core/card.js';
import { normalizeDigest } from '../core/digest.js';
import { VERSION } from '../core/version.js';
import { MetisError } from '../lib/errors.js';
import type { Manifest } from '../manifest/schema.js';
import { inspectImage } from './image-check.js';
import { injectManifest, readBackManifest, rehearseInjection } from './inject.js';
import type { Inventory } from '../inventory/load.js';
import { nodeManifest } from '../inventory/merge.js';
import type { SecretResolver } from '../inventory/secrets.js';
import { claimTarget, type TargetClaim } from './safety/claim.js';
import { checkTarget, type TargetInfo } from './safety/check-target.js';
import { TargetKindError } from './safety/errors.js';
import type { ImageCache } from './source/cache.js';
import { type ResolvedImage, resolveImage } from './source/resolve.js';
import { type ImageGate, imageGate, judgeDownloadMismatch } from './signature/gate.js';
import { loadTrust } from './signature/trust.js';
import { localSidecars } from './source/sidecars.js';
import { burn, type BurnResult } from './write/burn.js';
import type { Follow } from './write/hashing-reader.js';
import { type ImageStream, openImageStream } from './write/image-stream.js';
import { detectCompression } from '../core/compression.js';

/** The burn's stages, in order: source → verify → write → inject → verify (the card's manifest). */
export type BurnStage = 'target' | 'source' | 'verify' | 'write' | 'inject' | 'verify-card';

/** What a burn reports while it runs: one shape for the CLI's bar, its --json lines, an agent or a UI. */
export type BurnEvent =
  | { event: 'stage'; stage: BurnStage }
  | { event: 'image'; ref: string; sha256: string | null }
  | { event: 'image-ready'; path: string; from: ResolvedImage['from']; sha256: string | null; verified: boolean; streaming: boolean }
  | { event: 'warning'; code: 'W_NO_DIGEST'; message: string }
  | { event: 'signature'; note: string }
  | { event: 'no-bmap'; ref: string; message: string }
  | { event: 'progress'; phase: string; bytes: number; total: number };

export type BurnTarget = { device: string } | { file: string };

export interface BurnNodeOptions {
  inventory: Inventory;
  node: string;
  target: BurnTarget;
  /** Overrides the class's image.ref (path, http(s):// or oci://); the class's digest then no longer applies. */
  image?: string;
  /** Expected sha256 (hex or sha256:HEX, any case). */
  sha256?: string;
  bmap?: string;
  /** Read every written range back (default true). */
  verify?: boolean;
  /** Refuse an image whose digest is not known in advance (also a class's image.requireDigest). */
  requireDigest?: boolean;
  cache: ImageCache;
  secrets: SecretResolver;
  env?: NodeJS.ProcessEnv;
  /** Called after the target and the image are checked and before anything is written; throw to stop. */
  confirm?: (target: TargetInfo, manifest: Manifest) => Promise<void>;
  onProgress?: (e: BurnEvent) => void;
  signal?: AbortSignal;
  /**
   * `target` already being claimed and checked (claimTargetEarly, started by the caller while it
   * read the inventory): awaited after the manifest is built, so an invalid inventory or manifest is
   * still the error reported. Released by burnNode whatever happens, as its own claim would be.
   */
  claimed?: Promise<TargetClaim>;
}

export interface BurnNodeResult {
  node: string;
  target: string;
  targetKind: 'block' | 'file';
  image: { ref: string; path: string; sha256: string; from: ResolvedImage['from']; digestKnown: boolean };
  bytesWritten: number;
  imageSize: number;
  verified: boolean;
  durationMs: number;
  /** Where the manifest is on the card's boot partition. */
  manifest: string;
  /** File mode of a --to card image (it holds the join token). */
  fileMode?: '0600';
}

/** The write failed after the target was touched: it must be burned again (exit 6). */
export class WriteFailedError extends MetisError {
  constructor(target: string, isBlock: boolean, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    const what = isBlock ? 'the card is partly written and will not boot' : 'the card image is incomplete and will not boot';
    super('E_WRITE_FAILED', `writing ${target} failed: ${why}; ${what}: burn again`, { path: target, cause });
  }
}

/** The manifest could not be put on the card (FAT full, no FAT, no table, read-back differs): exit 6. */
export class InjectFailedError extends MetisError {
  /** `sealed`: the card's first MiB was already written (a failed read-back); else it was left without a partition table. */
  constructor(target: string, cause: unknown, sealed = false) {
    const why = cause instanceof Error ? cause.message : String(cause);
    const state = sealed ? `the image is on ${target} but ${MANIFEST_PATH} is missing or damaged: the node will not come up as itself` : `${MANIFEST_PATH} could not be written, so ${target} was left without a partition table and will not boot`;
    super('E_INJECT_FAILED', `${why}; ${state}; burn again`, { path: target, cause });
    this.injectCode = cause instanceof MetisError ? cause.code : undefined;
  }
  readonly injectCode: string | undefined;
}

/**
 * Burns one node's card: the manifest merged from the inventory (secrets resolved), the target
 * claimed and checked before anything is fetched, the image fetched and hash-verified (source),
 * inspected (verify: table inside the image, size fits, bmap matches), confirmed, written
 * sparsely and read back (write), the manifest injected into the FAT boot partition (inject),
 * and read back and validated (verify-card). Nothing is written before every check has passed.
 * The target stays claimed (see claimTarget) from its first check to the end of injection.
 */
export async function burnNode(o: BurnNodeOptions): Promise<BurnNodeResult> {
  const started = Date.now();
  const emit = o.onProgress ?? (() => {});
  const { want, target } = targetOf(o.target);
  let plan: NodeImagePlan;
  try {
    plan = await planNodeImage(o);
  } catch (e) {
    await o.claimed?.then((c) => c.release(), () => {});
    throw e;
  }

  emit({ event: 'stage', stage: 'target' });
  // Before any download or hash: a wrong device is found in a second, not after minutes.
  const claim = await (o.claimed ?? claimChecked(target, want, o.env));
  try {
    const { img, gate, bmap } = await fetchNodeImage(plan, o);
    // A cold registry pull arrives while it is written: published to the cache only after a burn
    // that read it whole (its digest checked on the way in), else stopped and removed.
    const { info, written } = await writeCard({
      follow: img.streaming?.file,
      target,
      want,
      image: img.path,
      label: plan.ref,
      bmap,
      verify: o.verify ?? true,
      gate,
      confirm: (info) => o.confirm?.(info, plan.manifest) ?? Promise.resolve(),
      manifest: (w) => stampManifest(plan.manifest, img.ref, w.sha256),
      onProgress: emit,
      signal: o.signal,
    }).catch(async (e: unknown) => {
      await img.streaming?.settle(false);
      throw e;
    });
    // The burn passed the gate with these bytes: a cache entry that fails to publish is fetched again next time.
    await img.streaming?.settle(true).catch(() => {});
    return {
      node: o.node,
      target,
      targetKind: info.isBlockDevice ? 'block' : 'file',
      image: { ref: img.ref, path: img.path, sha256: written.sha256, from: img.from, digestKnown: Boolean(plan.expected) },
      bytesWritten: written.bytesWritten,
      imageSize: written.imageSize,
      verified: written.verified,
      durationMs: Date.now() - started,
      manifest: MANIFEST_PATH,
      ...(info.isBlockDevice ? {} : { fileMode: '0600' as const }),
    };
  } finally {
    await claim.release();
  }
}

function targetOf(t: BurnTarget): { want: 'device' | 'file'; target: string } {
  return 'device' in t ? { want: 'device', target: resolve(t.device) } : { want: 'file', target: resolve(t.file) };
}

/** The target claimed (claimTarget) and checked for what was asked (--device a whole disk, --to a file); a refusal releases the claim. */
async function claimChecked(target: string, want: 'device' | 'file', env?: NodeJS.ProcessEnv): Promise<TargetClaim> {
  const claim = await claimTarget(target, env);
  try {
    await checkKind(target, want, await checkTarget(target, { want }));
    return claim;
  } catch (e) {
    await claim.release();
    throw e;
  }
}

/**
 * Starts burnNode's claim and first check of `target` now, for its `claimed` option: a CLI that
 * still has the inventory to read overlaps the two (flock(1) and the sysfs reads wait on the
 * kernel while the YAML is parsed). Only claims and reads: nothing is written before burnNode's
 * own checks. A refusal is kept for burnNode to report in its place (never an unhandled rejection).
 */
export function claimTargetEarly(t: BurnTarget, env?: NodeJS.ProcessEnv): Promise<TargetClaim> {
  const { want, target } = targetOf(t);
  const p = claimChecked(target, want, env);
  p.catch(() => {});
  return p;
}

/** The node's manifest (secrets resolved) and which image it needs, with the digest policy applied. */
export interface NodeImagePlan {
  manifest: Manifest;
  ref: string;
  expected: string | undefined;
  side: Awaited<ReturnType<typeof localSidecars>>;
}

export async function planNodeImage(o: Pick<BurnNodeOptions, 'inventory' | 'node' | 'secrets' | 'image' | 'sha256' | 'requireDigest'>): Promise<NodeImagePlan> {
  const manifest = await nodeManifest(o.inventory, o.node, o.secrets);
  const cls = o.inventory.classes.get(manifest.node.class)!.def;
  const ref = o.image ?? cls.image.ref;
  if (!ref) throw new MetisError('E_NO_IMAGE', `class ${cls.name ?? manifest.node.class} has no image.ref; pass --image`, { path: 'image.ref' });
  const side = o.image ? await localSidecars(o.image) : {};
  // The class digest only belongs to the class's own reference.
  const expected = o.sha256 ? normalizeDigest(o.sha256, '--sha256') : o.image ? side.sha256 : cls.image.sha256;
  if (!expected && (o.requireDigest || cls.image.requireDigest)) {
    const why = o.requireDigest ? '--require-digest' : `class ${manifest.node.class} sets image.requireDigest`;
    throw new MetisError('E_NO_DIGEST', `image ${ref}: no sha256 is known for it and ${why}: pin image.sha256 in the class or pass --sha256; nothing was written`, { path: 'image.sha256' });
  }
  return { manifest, ref, expected, side };
}

/**
 * The source stage: the image fetched into the cache (a download is hashed as it arrives) and the
 * gate that judges its digest and signature. `verifyNow` (a burn on a flashing host, where the
 * bytes are written elsewhere) hashes the whole file here and runs the gate before anything is
 * sent; otherwise the bytes are judged as they are written, before the partition table.
 */
export async function fetchNodeImage(
  plan: NodeImagePlan,
  o: Pick<BurnNodeOptions, 'inventory' | 'cache' | 'bmap' | 'env' | 'signal' | 'onProgress'> & { verifyNow?: boolean },
): Promise<{ img: ResolvedImage; gate: ImageGate; bmap: string | undefined; sha256: string | undefined }> {
  const emit = o.onProgress ?? (() => {});
  const { ref, expected } = plan;
  emit({ event: 'stage', stage: 'source' });
  emit({ event: 'image', ref, sha256: expected ?? null });
  if (!expected) {
    emit({ event: 'warning', code: 'W_NO_DIGEST', message: `no sha256 is known for ${ref}: it is written as found, not verified against a pinned digest (pin image.sha256 in the class, pass --sha256, or --require-digest to refuse)` });
  }
  const trust = await loadTrust(o.inventory.cluster.def.signatures, o.inventory.dir);
  // Local files and cache entries are not hashed here (defer): either as they are written, or once in
  // verifyNow's pass below; the gate judges that one hash.
  const img = await resolveImage({ ref, sha256: expected, cache: o.cache, onProgress: (e) => emit({ event: 'progress', ...e }), signal: o.signal, env: o.env, defer: true, stream: !o.verifyNow })
    .catch((e: unknown) => judgeDownloadMismatch(e, ref, trust, o.cache));
  emit({ event: 'image-ready', path: img.path, from: img.from, sha256: img.sha256 ?? null, verified: img.verified, streaming: !!img.streaming });
  let gate: ImageGate;
  try {
    gate = imageGate(img, trust, o.cache);
  } catch (e) {
    // A refusal before the burn began: a download already streaming is stopped and removed.
    await img.streaming?.settle(false);
    throw e;
  }
  if (gate.note) emit({ event: 'signature', note: gate.note });
  let sha256 = img.verified ? img.sha256 : undefined;
  if (o.verifyNow) {
    const whole = await hashThrough(img.path, gate.observe);
    await gate.beforeCommit(whole);
    sha256 = whole.sha256;
  }
  return { img, gate, bmap: o.bmap ?? plan.side.bmap ?? img.bmap, sha256 };
}

export function stampManifest(manifest: Manifest, imageRef: string, imageSha256: string): Manifest {
  return { ...manifest, burn: { metisVersion: VERSION, burnedAt: new Date().toISOString(), image: imageRef, imageSha256 } };
}

async function hashThrough(path: string, observe?: (b: Buffer) => void): Promise<{ sha256: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 }) as AsyncIterable<Buffer>) {
    h.update(chunk);
    observe?.(chunk);
    bytes += chunk.length;
  }
  return { sha256: h.digest('hex'), bytes };
}

/** What writeCard needs: an image already on this machine, and what decides the card may boot. */
export interface CardWrite {
  target: string;
  want: 'device' | 'file';
  /** A local image file (raw or compressed). */
  image: string;
  /** `image` is still arriving (a cold registry pull): read as it grows (burn's `follow`). */
  follow?: Follow;
  /** How the image is named in messages (its reference). */
  label: string;
  bmap?: string;
  verify: boolean;
  /** Digest/signature checks of the bytes written, before the partition table (see signature/gate.ts). */
  gate?: Pick<ImageGate, 'observe' | 'beforeCommit'>;
  /** After the target and the image are checked, before anything is written; throw to stop. */
  confirm?: (target: TargetInfo) => Promise<void>;
  /** After all but the first MiB is written and synced (a flashing host asks its workstation); a throw keeps the old head. */
  beforeHead?: () => Promise<void>;
  /** The manifest to inject, given the digest of the bytes written (it is stamped into it). Pure: also called with a placeholder digest to rehearse the injection (inject.ts). */
  manifest: (written: { sha256: string }) => Manifest | Promise<Manifest>;
  onProgress?: (e: BurnEvent) => void;
  signal?: AbortSignal;
}

/**
 * The device side of every burn, local or on a flashing host (src/remote/agent-burn.ts): the image
 * opened (a compressed one into the decompressor the write reads on) and inspected (table inside
 * the image, size fits, bmap matches) → target checked against it →
 * confirmed → written sparsely, table last, read back (write) → manifest into the FAT boot
 * partition (inject) → read back and validated (verify-card). The caller holds the target's claim.
 */
export async function writeCard(c: CardWrite): Promise<{ info: TargetInfo; written: BurnResult }> {
  const emit = c.onProgress ?? (() => {});
  emit({ event: 'stage', stage: 'verify' });
  // A compressed image is opened once: the check reads its head from the decompressor the burn
  // then reads on (one decompressor per burn, started before the target is checked). Nothing is
  // written before the checks pass; a refusal stops it.
  const opened = await openCompressed(c);
  try {
    return await checkAndWrite(c, opened);
  } finally {
    await opened?.close();
  }
}

async function openCompressed(c: CardWrite): Promise<ImageStream | undefined> {
  await c.follow?.until(6);
  const compression = await detectCompression(c.image);
  if (!compression) return undefined;
  return openImageStream({ image: c.image, compression, bmap: c.bmap, observe: c.gate?.observe, follow: c.follow });
}

async function checkAndWrite(c: CardWrite, opened: ImageStream | undefined): Promise<{ info: TargetInfo; written: BurnResult }> {
  const emit = c.onProgress ?? (() => {});
  const facts = await inspectImage(c.image, { label: c.label, bmap: c.bmap, follow: c.follow, ...(opened ? { head: (n: number) => opened.head(n) } : {}) });
  const info = await checkTarget(c.target, { want: c.want, image: c.image, imageSize: facts.size });
  await checkKind(c.target, c.want, info);
  await c.confirm?.(info);
  if (c.signal?.aborted) throw new MetisError('E_ABORTED', 'burn interrupted before anything was written');

  if (facts.compression && !c.bmap) {
    emit({ event: 'no-bmap', ref: c.label, message: `no block map for ${c.label}: every chunk is written${info.isBlockDevice ? ', zeros included' : ''} (push with metis image push, or put a .bmap beside the image)` });
  }
  emit({ event: 'stage', stage: 'write' });
  let written: BurnResult;
  let text = '';
  try {
    written = await burn({
      image: c.image,
      target: c.target,
      bmap: c.bmap,
      imageSize: facts.size,
      verify: c.verify,
      onProgress: (e) => emit({ event: 'progress', ...e }),
      signal: c.signal,
      observe: c.gate?.observe,
      beforeCommit: c.gate?.beforeCommit,
      // Before the first MiB: the card boots only once it carries its manifest.
      inject: async (card, source) => {
        emit({ event: 'stage', stage: 'inject' });
        try {
          text = await injectManifest(card, facts.partitions, await c.manifest(source));
        } catch (e) {
          throw new InjectFailedError(c.target, e);
        }
      },
      beforeHead: c.beforeHead,
      // While the last flush reaches the card: the same injection on the image's bytes, in memory.
      whileDraining: async () => rehearseInjection(facts.compression ? null : c.image, facts.partitions, await c.manifest({ sha256: '0'.repeat(64) })),
      follow: c.follow,
      opened,
      // The card image holds the join token: it is the operator's alone before a byte goes in.
      ...(info.isBlockDevice ? {} : { fileMode: 0o600 }),
    });
  } catch (e) {
    // Refusals with their own exit code (signature, digest of the bytes written, corrupt image) pass as they are.
    if (e instanceof InjectFailedError) throw e;
    if (e instanceof MetisError && (e.code === 'E_ABORTED' || e.code === 'E_VERIFY' || typeof (e as { exitCode?: unknown }).exitCode === 'number')) throw e;
    throw new WriteFailedError(c.target, info.isBlockDevice, e);
  }

  emit({ event: 'stage', stage: 'verify-card' });
  try {
    await readBackManifest(c.target, text, { blockDevice: info.isBlockDevice });
  } catch (e) {
    throw new InjectFailedError(c.target, e, true);
  }
  return { info, written };
}

export async function checkKind(target: string, want: 'device' | 'file', info: TargetInfo): Promise<void> {
  if (want === 'file' && info.isBlockDevice) throw new TargetKindError(`--to ${target} is a block device; use --device`);
  if (want === 'device' && !info.isBlockDevice) throw new TargetKindError(`--device ${target} is not a block device; use --to FILE for image files`);
}
