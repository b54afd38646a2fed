import { stat } from 'node:fs/promises';
import { MetisError } from '../lib/errors.js';
import { parseManifest } from '../manifest/load.js';
import { listDevices } from '../burner/devices.js';
import { readBootFile, writeBootFile } from '../burner/fat/boot-file.js';
import { checkTarget } from '../burner/safety/check-target.js';
import type { ImageCache } from '../burner/source/cache.js';
import { SourceError } from '../burner/source/errors.js';
import { burn } from '../burner/write/burn.js';
import { detectCompression, uncompressedSize } from '../burner/write/source-stream.js';
import { UsageError } from '../burner/commands/exit-codes.js';
import type { AgentEvent } from './protocol.js';

export const MANIFEST_PATH = 'metis/node.yaml';

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
 * The device side of `metis burn --host`: the same functions the local burn calls, in the same
 * order, run on the flashing host against its own disks and mounts: cached image re-hashed →
 * checkTarget → (workstation confirms) → burn (sparse write, table last, O_DIRECT verify) →
 * manifest into the FAT boot partition → read back and validated. The manifest only ever lives in
 * this process's memory and on the card.
 */
export async function agentBurn(o: AgentBurnOptions): Promise<void> {
  const blobSize = (await stat(o.cache.blobPath(o.sha256)).catch(() => null))?.size ?? 0;
  o.emit({ event: 'progress', phase: 'rehashing', bytes: 0, total: blobSize });
  const image = await o.cache.get(o.sha256);
  if (!image) throw new SourceError('E_IMAGE_MISSING', `image sha256 ${o.sha256} is not in the flashing host's cache ${o.cache.dir} (or failed its re-hash and was dropped); burn again to send it`);
  const bmap = o.bmapSha256 ? await o.cache.get(o.bmapSha256) : undefined;
  if (o.bmapSha256 && !bmap) throw new SourceError('E_IMAGE_MISSING', `bmap sha256 ${o.bmapSha256} is not in the flashing host's cache`);
  o.emit({ event: 'progress', phase: 'rehashing', bytes: blobSize, total: blobSize });

  const compression = await detectCompression(image);
  const imageSize = (compression ? await uncompressedSize(image, compression) : undefined) ?? (await stat(image)).size;
  const info = await checkTarget(o.target, { image, imageSize });
  if (o.kind === 'file' && info.isBlockDevice) throw new UsageError(`--to ${o.target} is a block device on the flashing host; use --device`);
  if (o.kind === 'device' && !info.isBlockDevice) throw new UsageError(`--device ${o.target} is not a block device on the flashing host; use --to FILE for image files`);
  const dev = info.isBlockDevice ? (await listDevices().catch(() => [])).find((d) => d.path === info.path) : undefined;
  o.emit({ event: 'target', info: { path: info.path, kind: info.kind, size: info.size, isBlockDevice: info.isBlockDevice }, model: dev?.model ?? '', transport: dev?.transport ?? '' });

  const text = await o.go();
  const result = await burn({ image, target: o.target, bmap: bmap ?? undefined, verify: o.verify, onProgress: (e) => o.emit({ event: 'progress', ...e }), signal: o.signal, beforeHead: o.commit });
  await writeBootFile(o.target, MANIFEST_PATH, Buffer.from(text));
  const back = await readBootFile(o.target, MANIFEST_PATH);
  if (!back || back.toString('utf8') !== text) throw new MetisError('E_MANIFEST_READBACK', `${o.target}: ${MANIFEST_PATH} read back differs from what was written`);
  parseManifest(back.toString('utf8'), `${o.target}:${MANIFEST_PATH}`);
  o.emit({ event: 'done', bytesWritten: result.bytesWritten, imageSize: result.imageSize, verified: result.verified, durationMs: result.durationMs });
}
