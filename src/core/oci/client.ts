import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import type { KeyObject } from 'node:crypto';
import { detectCompression } from '../compression.js';
import { describeNetError } from '../net-error.js';
import { sha256File } from '../hash-file.js';
import { DigestMismatchError, SourceError } from '../source-errors.js';
import { sign as ecdsaSign } from '../signature/ecdsa.js';
import { buildPayload, SIGNATURE_ANNOTATION, SIMPLE_SIGNING_TYPE, signatureConfig, signatureTag } from '../signature/simple-signing.js';
import { authorize } from './auth.js';
import { type OciRef, parseOciRef } from './ref.js';

/**
 * The class image travels as an OCI artifact: one layer whose media type says "Metis card image"
 * and how it is compressed, an empty config. Registries (Harbor, distribution) store it as is.
 */
export const METIS_ARTIFACT_TYPE = 'application/vnd.metis.image.v1';
export const METIS_LAYER_TYPES = {
  raw: `${METIS_ARTIFACT_TYPE}+raw`,
  xz: `${METIS_ARTIFACT_TYPE}+xz`,
  gz: `${METIS_ARTIFACT_TYPE}+gzip`,
  zst: `${METIS_ARTIFACT_TYPE}+zstd`,
} as const;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
/** The block map travels beside the image as a second layer (bmaptool's XML). */
export const METIS_BMAP_TYPE = 'application/vnd.metis.bmap.v1+xml';
export const OCI_MANIFEST_TYPE = OCI_MANIFEST;
const EMPTY_CONFIG = { mediaType: 'application/vnd.oci.empty.v1+json', body: Buffer.from('{}') };

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}
export interface ImageManifest {
  schemaVersion: number;
  mediaType?: string;
  layers?: Descriptor[];
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A distribution-v2 client for one repository; remembers the Authorization a 401 challenge led to. */
export class OciClient {
  private auth: string | undefined;
  constructor(
    readonly ref: OciRef,
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly signal?: AbortSignal,
  ) {}

  private url(path: string): string {
    return /^https?:\/\//.test(path) ? path : `${this.ref.base}/v2/${this.ref.repo}/${path}`;
  }

  /** `body` must be replayable (a Buffer) unless auth was already settled by an earlier request. */
  async request(method: string, path: string, init: { headers?: Record<string, string>; body?: Buffer | Readable; length?: number } = {}): Promise<Response> {
    const send = () => {
      const headers: Record<string, string> = { ...init.headers, ...(this.auth ? { authorization: this.auth } : {}) };
      if (init.length !== undefined) headers['content-length'] = String(init.length);
      const body = init.body instanceof Readable ? (Readable.toWeb(init.body) as unknown as ReadableStream) : init.body;
      return fetch(this.url(path), { method, headers, body, signal: this.signal, ...(init.body instanceof Readable ? { duplex: 'half' } : {}) } as RequestInit);
    };
    let res = await send().catch((e: unknown) => {
      throw new SourceError('E_OCI', `${this.ref.base}: ${method} ${path}: ${describeNetError(e)}`, { cause: e });
    });
    const challenge = res.headers.get('www-authenticate');
    if (res.status === 401 && challenge && !(init.body instanceof Readable)) {
      await res.body?.cancel();
      this.auth = await authorize(challenge, this.env, this.signal);
      res = await send();
    }
    if (res.status === 401) throw new SourceError('E_OCI_AUTH', `${this.ref.host}/${this.ref.repo}: not authorized (HTTP 401)`);
    return res;
  }

  private async expect(res: Response, ok: number[], what: string): Promise<Response> {
    if (!ok.includes(res.status)) {
      const text = (await res.text().catch(() => '')).slice(0, 300);
      throw new SourceError('E_OCI', `${this.ref.host}/${this.ref.repo}: ${what}: HTTP ${res.status} ${text}`);
    }
    return res;
  }

  async manifest(reference = this.ref.reference): Promise<{ manifest: ImageManifest; digest: string }> {
    const got = await this.manifestIfAny(reference);
    if (!got) throw new SourceError('E_OCI', `${this.ref.host}/${this.ref.repo}: manifest ${reference}: HTTP 404`);
    return got;
  }

  /** A manifest by tag or digest, or null when the registry has none (404). */
  async manifestIfAny(reference: string): Promise<{ manifest: ImageManifest; digest: string } | null> {
    const res = await this.request('GET', `manifests/${reference}`, { headers: { accept: `${OCI_MANIFEST}, ${DOCKER_MANIFEST}` } });
    if (res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    await this.expect(res, [200], `manifest ${reference}`);
    const body = Buffer.from(await res.arrayBuffer());
    const digest = sha(body);
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new DigestMismatchError(`manifest ${this.ref.repo}@${reference}`, reference, digest);
    }
    return { manifest: JSON.parse(body.toString('utf8')) as ImageManifest, digest };
  }

  /** A small blob (block map, signature payload) in memory, its digest checked. */
  async blob(digest: string, limit = 16 << 20): Promise<Buffer> {
    const res = await this.expect(await this.request('GET', `blobs/${digest}`), [200], `blob ${digest}`);
    const body = Buffer.from(await res.arrayBuffer());
    if (body.length > limit) throw new SourceError('E_OCI', `${this.ref.host}/${this.ref.repo}: blob ${digest} is ${body.length} bytes (limit ${limit})`);
    if (sha(body) !== digest) throw new DigestMismatchError(`${this.ref.host}/${this.ref.repo} blob`, digest.slice(7), sha(body).slice(7));
    return body;
  }

  async blobExists(digest: string): Promise<boolean> {
    const res = await this.request('HEAD', `blobs/${digest}`);
    await res.body?.cancel();
    return res.status === 200;
  }

  /** Monolithic upload: POST to open a session, PUT the bytes with ?digest= to close it. */
  async uploadBlob(digest: string, body: Buffer | (() => Readable), length: number): Promise<void> {
    if (await this.blobExists(digest)) return;
    const open = await this.expect(await this.request('POST', 'blobs/uploads/', { length: 0 }), [202], 'open blob upload');
    await open.body?.cancel();
    const loc = open.headers.get('location');
    if (!loc) throw new SourceError('E_OCI', `${this.ref.host}: blob upload opened without a Location`);
    const url = new URL(loc, `${this.ref.base}/`);
    url.searchParams.set('digest', digest);
    const data = typeof body === 'function' ? body() : body;
    const res = await this.request('PUT', url.toString(), { headers: { 'content-type': 'application/octet-stream' }, body: data, length });
    await (await this.expect(res, [201], `upload blob ${digest}`)).body?.cancel();
  }

  async putManifest(tag: string, manifest: object): Promise<string> {
    return this.putManifestBytes(tag, Buffer.from(JSON.stringify(manifest)));
  }

  async putManifestBytes(tag: string, body: Buffer): Promise<string> {
    const res = await this.expect(await this.request('PUT', `manifests/${tag}`, { headers: { 'content-type': OCI_MANIFEST }, body }), [201], `put manifest ${tag}`);
    await res.body?.cancel();
    return res.headers.get('docker-content-digest') ?? sha(body);
  }
}

export function metisLayer(m: ImageManifest): Descriptor {
  const layer = m.layers?.find((l) => l.mediaType.startsWith(`${METIS_ARTIFACT_TYPE}+`));
  if (!layer) {
    throw new SourceError('E_OCI_ARTIFACT', `not a Metis image: no layer of type ${METIS_ARTIFACT_TYPE}+raw|xz|gzip|zstd (found ${m.layers?.map((l) => l.mediaType).join(', ') || 'no layers'})`);
  }
  if (!/^sha256:[0-9a-f]{64}$/.test(layer.digest)) throw new SourceError('E_OCI_ARTIFACT', `layer digest ${layer.digest} is not sha256`);
  return layer;
}

export function bmapLayer(m: ImageManifest): Descriptor | undefined {
  return m.layers?.find((l) => l.mediaType === METIS_BMAP_TYPE);
}

export interface PushOptions {
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** bmaptool XML published as the second layer. */
  bmap?: Buffer;
  /** Signs the pushed manifest (cosign key-based format). */
  signWith?: KeyObject;
}

/** Publishes an image file as a Metis OCI artifact; returns the manifest digest. */
export async function pushOci(file: string, refText: string, opts: PushOptions = {}): Promise<{ digest: string; layerDigest: string; signatureTag?: string }> {
  const ref = parseOciRef(refText);
  if (ref.reference.startsWith('sha256:')) throw new SourceError('E_OCI_REF', `${refText}: push needs a tag, not a digest`);
  const client = new OciClient(ref, opts.env, opts.signal);
  const size = (await stat(file)).size;
  const layerDigest = `sha256:${await sha256File(file)}`;
  const compression = await detectCompression(file);
  // The config upload is a replayable Buffer: it settles auth before the streamed layer.
  const configDigest = sha(EMPTY_CONFIG.body);
  await client.uploadBlob(configDigest, EMPTY_CONFIG.body, EMPTY_CONFIG.body.length);
  await client.uploadBlob(layerDigest, () => createReadStream(file, { highWaterMark: 4 << 20 }), size);
  const layers: Descriptor[] = [{ mediaType: METIS_LAYER_TYPES[compression ?? 'raw'], digest: layerDigest, size, annotations: { 'org.opencontainers.image.title': basename(file) } }];
  if (opts.bmap) {
    const d = sha(opts.bmap);
    await client.uploadBlob(d, opts.bmap, opts.bmap.length);
    layers.push({ mediaType: METIS_BMAP_TYPE, digest: d, size: opts.bmap.length, annotations: { 'org.opencontainers.image.title': `${basename(file).replace(/\.(xz|gz|zst)$/, '').replace(/\.img$/, '')}.bmap` } });
  }
  const digest = await client.putManifest(ref.reference, {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: METIS_ARTIFACT_TYPE,
    config: { mediaType: EMPTY_CONFIG.mediaType, digest: configDigest, size: EMPTY_CONFIG.body.length },
    layers,
  });
  if (!opts.signWith) return { digest, layerDigest };
  const payload = buildPayload(`${ref.host}/${ref.repo}:${ref.reference}`, digest);
  const payloadDigest = sha(payload);
  const config = signatureConfig(payloadDigest);
  await client.uploadBlob(payloadDigest, payload, payload.length);
  await client.uploadBlob(sha(config), config, config.length);
  const tag = signatureTag(digest);
  await client.putManifest(tag, {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
    layers: [{ mediaType: SIMPLE_SIGNING_TYPE, digest: payloadDigest, size: payload.length, annotations: { [SIGNATURE_ANNOTATION]: ecdsaSign(payload, opts.signWith).toString('base64') } }],
  });
  return { digest, layerDigest, signatureTag: tag };
}
