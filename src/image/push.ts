import { access, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { MetisError } from '../lib/errors.js';
import { pushOci } from '../core/oci/client.js';
import { allocationOf } from '../core/ranges/allocation.js';
import { bmapXml } from '../core/ranges/bmap-xml.js';
import { parsePrivateKey } from '../core/signature/keys.js';
import { decompressStream, detectCompression } from '../core/compression.js';
import { run } from '../core/exec.js';

export interface PushResult {
  digest: string;
  layerDigest: string;
  /** The layer as pushed: the file itself, or its .zst made for the push. */
  layerFile: string;
  bmap: 'sidecar' | 'made';
  signatureTag?: string;
}

export interface PushOptions {
  /** PEM private key (ECDSA P-256): the manifest is signed in cosign's format. */
  sign?: string;
  /** Push a raw image as it is instead of as .zst. */
  uncompressed?: boolean;
  env?: NodeJS.ProcessEnv;
}

/**
 * Publishes a class image as a Metis OCI artifact with the burner's registry client (the one
 * `metis burn` pulls with): the image (a raw image compressed with zstd first), its block map as
 * a second layer (IMAGE.bmap beside it, or made from the image's own filesystems), and, with a
 * key, a cosign signature.
 */
export async function pushImage(file: string, ref: string, opts: PushOptions = {}): Promise<PushResult> {
  if (!ref.startsWith('oci://')) throw new MetisError('E_USAGE', `push target must be oci://REGISTRY/REPO:TAG (got ${ref})`);
  await access(file).catch((cause: unknown) => {
    throw new MetisError('E_IMAGE_FILE', `cannot read ${file}`, { file, cause });
  });
  // The key is read before anything is sent: a bad key publishes nothing.
  const key = opts.sign ? parsePrivateKey(await readKey(opts.sign), opts.sign) : undefined;
  const work = await mkdtemp(join(tmpdir(), 'metis-push-'));
  try {
    const compression = await detectCompression(file);
    const sidecar = `${file.replace(/\.(xz|gz|zst)$/, '')}.bmap`;
    let bmap = await readFile(sidecar).catch(() => null);
    const made = !bmap;
    let raw = file;
    if (!bmap && compression) {
      // No map beside a compressed image: decompress once (sparse) and read its filesystems.
      raw = join(work, 'image.img');
      const d = decompressStream(file, compression);
      await Promise.all([pipeline(d.stream, createWriteStream(raw)), d.done]);
    }
    if (!bmap) bmap = Buffer.from(await bmapXml(raw, (await allocationOf(raw, (await stat(raw)).size)).map));
    let layerFile = file;
    if (!compression && !opts.uncompressed) {
      layerFile = join(work, `${basename(file)}.zst`);
      await run(() => {}, 'zstd', ['-q', '-T0', '-6', file, '-o', layerFile]);
    }
    const r = await pushOci(layerFile, ref, { env: opts.env, bmap, signWith: key });
    return { ...r, layerFile: layerFile === file ? file : basename(layerFile), bmap: made ? 'made' : 'sidecar' };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function readKey(path: string): Promise<string> {
  return readFile(path, 'utf8').catch((cause: unknown) => {
    throw new MetisError('E_SIG_KEYFILE', `cannot read key ${path}`, { file: path, cause });
  });
}
