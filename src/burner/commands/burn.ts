import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MetisError } from '../../lib/errors.js';
import { Redactor } from '../../lib/redact.js';
import { manifestSecrets, parseManifest, serializeManifest } from '../../manifest/load.js';
import type { Manifest } from '../../manifest/schema.js';
import { readBootFile, writeBootFile } from '../fat/boot-file.js';
import { loadInventory } from '../inventory/load.js';
import { nodeManifest } from '../inventory/merge.js';
import { progressReporter } from '../progress.js';
import { checkTarget } from '../safety/check-target.js';
import { defaultCacheDir, ImageCache } from '../source/cache.js';
import { resolveImage } from '../source/resolve.js';
import { burn } from '../write/burn.js';
import { detectCompression, uncompressedSize } from '../write/source-stream.js';
import { confirmBurn } from './confirm.js';
import { UsageError } from './exit-codes.js';
import { inventoryDir, type Io, resolverFor } from './io.js';
import { localSidecars } from './sidecars.js';
import { VERSION as METIS_VERSION } from '../../bootstrap/version.js';
import { escrowNotice } from '../../identity/apply.js';

export const MANIFEST_PATH = 'metis/node.yaml';
const USAGE = 'usage: metis burn NODE (--device DEV | --to FILE) [--image PATH|URL|oci://…] [--sha256 HEX] [--bmap FILE] [--yes] [--json] [--no-verify] [--inventory DIR] [--cache DIR]';

/**
 * inventory → manifest → verified local image → target checks → confirmation → sparse write +
 * verify → metis/node.yaml into the FAT boot partition → read back and validated.
 */
export async function burnCommand(argv: string[], io: Io): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      device: { type: 'string' },
      to: { type: 'string' },
      image: { type: 'string' },
      sha256: { type: 'string' },
      bmap: { type: 'string' },
      yes: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      'no-verify': { type: 'boolean', default: false },
      inventory: { type: 'string' },
      cache: { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new UsageError(`burn takes one NODE\n${USAGE}`);
  if (Boolean(v.device) === Boolean(v.to)) throw new UsageError(`give exactly one of --device DEV or --to FILE\n${USAGE}`);
  if (v.sha256 && !/^[0-9a-f]{64}$/.test(v.sha256)) throw new UsageError('--sha256 must be 64 lowercase hex characters');
  const node = positionals[0]!;
  const json = v.json;
  const say = (text: string, event: Record<string, unknown>) => (json ? io.out(`${JSON.stringify(event)}\n`) : io.err(`${text}\n`));
  const progress = progressReporter(json ? 'json' : io.isTTY ? 'tty' : 'plain', json ? io.out : io.err);

  const dir = inventoryDir(v.inventory);
  const inv = await loadInventory(dir);
  const manifest = await nodeManifest(inv, node, resolverFor(io, dir));
  const redact = new Redactor(manifestSecrets(manifest).map((s) => s.value));
  const identity = await escrowNotice(dir, node);
  say(identity, { event: 'identity', node, escrowed: !identity.includes('no identity escrow'), message: identity });
  const cls = inv.classes.get(manifest.node.class)!.def;

  // --image overrides the class image; the class digest only belongs to the class's own reference.
  const ref = v.image ?? cls.image.ref;
  if (!ref) throw new MetisError('E_NO_IMAGE', `class ${cls.name ?? manifest.node.class} has no image.ref; pass --image`, { path: 'image.ref' });
  const side = v.image ? await localSidecars(v.image) : {};
  const expected = v.sha256 ?? (v.image ? side.sha256 : cls.image.sha256);
  say(`image ${ref}${expected ? ` (sha256 ${expected})` : ''}`, { event: 'image', ref, sha256: expected ?? null });
  const cache = new ImageCache(resolve(v.cache ?? defaultCacheDir(io.env)));
  const img = await resolveImage({ ref, sha256: expected, cache, onProgress: (e) => progress.event(e), signal: io.signal, env: io.env });
  progress.end();
  say(`image ready: ${img.path} (from ${img.from}, sha256 ${img.sha256})`, { event: 'image-ready', path: img.path, from: img.from, sha256: img.sha256 });

  const target = resolve((v.device ?? v.to)!);
  const compression = await detectCompression(img.path);
  const imageSize = (compression ? await uncompressedSize(img.path, compression) : undefined) ?? (await stat(img.path)).size;
  const info = await checkTarget(target, { image: img.path, imageSize });
  if (v.to && info.isBlockDevice) throw new UsageError(`--to ${target} is a block device; use --device`);
  if (v.device && !info.isBlockDevice) throw new UsageError(`--device ${target} is not a block device; use --to FILE for image files`);
  if (!v.yes) await confirmBurn(io, node, info);

  const result = await burn({ image: img.path, target, bmap: v.bmap ?? side.bmap, verify: !v['no-verify'], onProgress: (e) => progress.event(e), signal: io.signal });
  progress.end();

  const stamped: Manifest = { ...manifest, burn: { metisVersion: METIS_VERSION, burnedAt: new Date().toISOString(), image: img.ref, imageSha256: img.sha256 } };
  const text = serializeManifest(stamped);
  await writeBootFile(target, MANIFEST_PATH, Buffer.from(text));
  const back = await readBootFile(target, MANIFEST_PATH);
  if (!back || back.toString('utf8') !== text) throw new MetisError('E_MANIFEST_READBACK', `${target}: ${MANIFEST_PATH} read back differs from what was written`);
  parseManifest(back.toString('utf8'), `${target}:${MANIFEST_PATH}`);

  const done = { event: 'done', node, target, image: img.ref, imageSha256: img.sha256, bytesWritten: result.bytesWritten, imageSize: result.imageSize, verified: result.verified, durationMs: result.durationMs, manifest: MANIFEST_PATH };
  if (json) io.out(`${redact.text(JSON.stringify(done))}\n`);
  else {
    const mb = (n: number) => (n / 1e6).toFixed(1);
    io.out(redact.text(`burned ${node} to ${target}: wrote ${mb(result.bytesWritten)} of ${mb(result.imageSize)} MB in ${(result.durationMs / 1000).toFixed(1)} s, ${result.verified ? 'verified' : 'NOT verified (--no-verify)'}; ${MANIFEST_PATH} written and read back\n`));
  }
  return 0;
}
