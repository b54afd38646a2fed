import { WrittenDigestError } from '../core/signature/errors.js';
import { SourceError } from '../core/source-errors.js';
import { parseManifest } from '../manifest/load.js';
import { listDevices } from '../burner/devices.js';
import { checkKind, writeCard } from '../burner/pipeline.js';
import { claimTarget } from '../burner/safety/claim.js';
import { checkTarget } from '../burner/safety/check-target.js';
import type { ImageCache } from '../burner/source/cache.js';
import { PolledFile } from './polled-file.js';
import type { AgentEvent } from './protocol.js';

export interface AgentBurnOptions {
  cache: ImageCache;
  sha256: string;
  bmapSha256?: string;
  target: string;
  kind: 'device' | 'file';
  verify: boolean;
  /** The image is still arriving (a first burn): the receive's temp file and its size when whole. */
  follow?: { path: string; size: number };
  emit: (e: AgentEvent) => void;
  /** Resolves with the stamped manifest text once the workstation said go; rejects when it went away. */
  go: () => Promise<string>;
  /** Resolves when the workstation answers `commit` (still there, not interrupted); rejects otherwise. */
  commit: () => Promise<void>;
  signal: AbortSignal;
}

/**
 * The device side of `metis burn --host`: the local burn's own device stage (writeCard in
 * src/burner/pipeline.ts), run on the flashing host against its own disks and mounts, under the same
 * claim: target checked → (workstation confirms) → sparse write, the image re-hashed as it is
 * written and judged before the partition table → (workstation says commit) → table → manifest into
 * the FAT boot partition → read back and validated. The image is the cached copy, or on a first
 * burn the copy still arriving (followed as it grows; see polled-file.ts). The manifest only ever
 * lives in this process's memory and on the card.
 */
export async function agentBurn(o: AgentBurnOptions): Promise<void> {
  // A followed image that is lost stops the burn as the workstation's abort does: the old first MiB stays.
  const stop = new AbortController();
  const abort = () => stop.abort();
  if (o.signal.aborted) abort();
  else o.signal.addEventListener('abort', abort, { once: true });
  const src = await imageSource(o, stop);
  try {
    const bmap = o.bmapSha256 ? await o.cache.get(o.bmapSha256) : undefined;
    if (o.bmapSha256 && !bmap) throw new SourceError('E_IMAGE_MISSING', `bmap sha256 ${o.bmapSha256} is not in the flashing host's cache`);
    const claim = await claimTarget(o.target);
    try {
      await checkKind(o.target, o.kind, await checkTarget(o.target, { want: o.kind }));
      await writeOnce(o, src, bmap ?? undefined, stop.signal);
    } finally {
      await claim.release();
    }
  } catch (e) {
    // The transfer's failure explains the stop better than the abort it caused.
    throw src.follow?.lost ?? e;
  } finally {
    o.signal.removeEventListener('abort', abort);
    await src.follow?.close();
  }
}

interface ImageSource {
  path: string;
  label: string;
  follow?: PolledFile;
}

/** The followed temp file, opened once now; else (no --follow, or the receive already ended) the cached blob. */
async function imageSource(o: AgentBurnOptions, stop: AbortController): Promise<ImageSource> {
  if (o.follow) {
    const file = await PolledFile.open(o.follow.path, { size: o.follow.size, committedAt: o.cache.blobPath(o.sha256), signal: stop.signal, onLost: () => stop.abort() }).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw e;
    });
    // Gone before we looked: renamed into the cache (found below) or removed (a failed transfer: not found).
    if (file) return { path: file.path, label: `sha256:${o.sha256} (arriving on this host)`, follow: file };
  }
  const image = await o.cache.has(o.sha256);
  if (!image) throw new SourceError('E_IMAGE_MISSING', `image sha256 ${o.sha256} is not in the flashing host's cache ${o.cache.dir}; burn again to send it`);
  return { path: image, label: `sha256:${o.sha256} (cached on this host)` };
}

async function writeOnce(o: AgentBurnOptions, src: ImageSource, bmap: string | undefined, signal: AbortSignal): Promise<void> {
  let text = '';
  const { written } = await writeCard({
    target: o.target,
    want: o.kind,
    image: src.path,
    follow: src.follow,
    label: src.label,
    bmap,
    verify: o.verify,
    // The image is re-hashed while it is written; a changed cached copy never becomes bootable and is dropped.
    gate: {
      beforeCommit: async ({ sha256 }) => {
        if (sha256 !== o.sha256) {
          await o.cache.drop(o.sha256);
          throw new WrittenDigestError(src.follow ? src.label : src.path, o.sha256, sha256);
        }
      },
    },
    confirm: async (info) => {
      const dev = info.isBlockDevice ? (await listDevices().catch(() => [])).find((d) => d.path === info.path) : undefined;
      o.emit({ event: 'target', info: { path: info.path, kind: info.kind, size: info.size, isBlockDevice: info.isBlockDevice }, model: dev?.model ?? '', transport: dev?.transport ?? '' });
      text = await o.go();
    },
    beforeHead: o.commit,
    manifest: () => parseManifest(text, 'the manifest from the workstation').manifest,
    onProgress: (e) => {
      if (e.event === 'progress') o.emit(e);
    },
    signal,
  });
  o.emit({ event: 'done', bytesWritten: written.bytesWritten, imageSize: written.imageSize, verified: written.verified, durationMs: written.durationMs });
}
