import { WrittenDigestError } from '../core/signature/errors.js';
import { SourceError } from '../core/source-errors.js';
import { parseManifest } from '../manifest/load.js';
import { listDevices } from '../burner/devices.js';
import { checkKind, writeCard } from '../burner/pipeline.js';
import { claimTarget } from '../burner/safety/claim.js';
import { checkTarget } from '../burner/safety/check-target.js';
import type { ImageCache } from '../burner/source/cache.js';
import type { AgentEvent } from './protocol.js';

export interface AgentBurnOptions {
  cache: ImageCache;
  sha256: string;
  bmapSha256?: string;
  target: string;
  kind: 'device' | 'file';
  verify: boolean;
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
 * claim: target checked → (workstation confirms) → sparse write, the cached image re-hashed as it is
 * written and judged before the partition table → (workstation says commit) → table → manifest into
 * the FAT boot partition → read back and validated. The manifest only ever lives in this process's
 * memory and on the card.
 */
export async function agentBurn(o: AgentBurnOptions): Promise<void> {
  const image = await o.cache.has(o.sha256);
  if (!image) throw new SourceError('E_IMAGE_MISSING', `image sha256 ${o.sha256} is not in the flashing host's cache ${o.cache.dir}; burn again to send it`);
  const bmap = o.bmapSha256 ? await o.cache.get(o.bmapSha256) : undefined;
  if (o.bmapSha256 && !bmap) throw new SourceError('E_IMAGE_MISSING', `bmap sha256 ${o.bmapSha256} is not in the flashing host's cache`);

  const claim = await claimTarget(o.target);
  try {
    await checkKind(o.target, o.kind, await checkTarget(o.target, { want: o.kind }));
    let text = '';
    const { written } = await writeCard({
      target: o.target,
      want: o.kind,
      image,
      label: `sha256:${o.sha256} (cached on this host)`,
      bmap: bmap ?? undefined,
      verify: o.verify,
      // The cached copy is re-hashed while it is written; a changed one never becomes bootable and is dropped.
      gate: {
        beforeCommit: async ({ sha256 }) => {
          if (sha256 !== o.sha256) {
            await o.cache.drop(o.sha256);
            throw new WrittenDigestError(image, o.sha256, sha256);
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
      signal: o.signal,
    });
    o.emit({ event: 'done', bytesWritten: written.bytesWritten, imageSize: written.imageSize, verified: written.verified, durationMs: written.durationMs });
  } finally {
    await claim.release();
  }
}
