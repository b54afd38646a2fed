import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { detectCompression } from '../compression.js';
import { describeNetError } from '../net-error.js';
import { sha256File } from '../hash-file.js';
import { DigestMismatchError, SourceError } from '../source-errors.js';
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
const EMPTY_CONFIG = { mediaType: 'application/vnd.oci.empty.v1+json', body: Buffer.from('{}') };

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}
interface ImageManifest {
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

  async manifest(): Promise<{ manifest: ImageManifest; digest: string }> {
    const res = await this.expect(await this.request('GET', `manifests/${this.ref.reference}`, { headers: { accept: `${OCI_MANIFEST}, ${DOCKER_MANIFEST}` } }), [200], `manifest ${this.ref.reference}`);
    const body = Buffer.from(await res.arrayBuffer());
    const digest = sha(body);
    if (this.ref.reference.startsWith('sha256:') && digest !== this.ref.reference) {
      throw new DigestMismatchError(`manifest ${this.ref.repo}@${this.ref.reference}`, this.ref.reference, digest);
    }
    return { manifest: JSON.parse(body.toString('utf8')) as ImageManifest, digest };
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
    const body = Buffer.from(JSON.stringify(manifest));
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

/** Publishes an image file as a Metis OCI artifact; returns the manifest digest. */
export async function pushOci(file: string, refText: string, opts: { env?: NodeJS.ProcessEnv; signal?: AbortSignal } = {}): Promise<{ digest: string; layerDigest: string }> {
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
  const digest = await client.putManifest(ref.reference, {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: METIS_ARTIFACT_TYPE,
    config: { mediaType: EMPTY_CONFIG.mediaType, digest: configDigest, size: EMPTY_CONFIG.body.length },
    layers: [{ mediaType: METIS_LAYER_TYPES[compression ?? 'raw'], digest: layerDigest, size, annotations: { 'org.opencontainers.image.title': basename(file) } }],
  });
  return { digest, layerDigest };
}
