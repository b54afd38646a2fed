import { dirname, join, resolve } from 'node:path';
import { parseFlags } from '../core/flags.js';
import { cacheHome } from '../core/xdg.js';
import { errorMessage, MetisError } from '../lib/errors.js';
import { buildImage } from './build.js';
import { Cleanups, InterruptedError, withInterrupts } from './interrupt.js';
import { pushImage } from './push.js';
import { loadImageSpec } from '../core/image-spec.js';
import { writeKeyPair } from './keygen.js';

export const IMAGE_USAGE = `usage:
  metis image build CLASS [--inventory DIR] [--out FILE] [--cache DIR] [--mirror URL] [--base FILE.img[.xz]]
                          [--bundle FILE] [--units DIR] [--k3s FILE] [--overlay DIR]... [--enable UNIT]... [--json]
  metis image push FILE oci://REGISTRY/REPO:TAG [--sign KEY] [--uncompressed]
  metis image keygen [--out PREFIX]

build needs Linux and root. CLASS is a class name (INVENTORY/classes/CLASS.yaml) or a YAML file.
The mirror is read from /etc/apt/sources.list.d/debian.sources unless --mirror is given.
--base builds on a vendor disk image (e.g. Raspberry Pi OS, Armbian) instead of debootstrap: its root
and boot files are kept, missing class packages are installed with its own apt sources, identity is
stripped, and the image is rewritten in Metis's layout.
push uses the burner's OCI client (same auth and registry settings as metis burn); a raw image is
pushed as .zst with its block map; --sign KEY adds a cosign-compatible signature (docs/signing.md).
keygen writes PREFIX.key (0600) and PREFIX.pub, an ECDSA P-256 pair (default PREFIX: metis-image).`;

export interface ImageCommandIo {
  out: (line: string) => void;
  err: (line: string) => void;
  /** Directory of the running bundle (dist/): the bootstrap bundle and ../systemd are found from it. */
  distDir: string;
}

function defaultIo(): ImageCommandIo {
  return {
    out: (l) => process.stdout.write(`${l}\n`),
    err: (l) => process.stderr.write(`${l}\n`),
    distDir: dirname(resolve(process.argv[1] ?? '.')),
  };
}

async function build(argv: string[], io: ImageCommandIo): Promise<number> {
  const { values, positionals } = parseFlags('image build', argv, {
      inventory: { type: 'string', default: 'inventory' },
      out: { type: 'string' },
      cache: { type: 'string', default: join(cacheHome(), 'metis', 'image') },
      mirror: { type: 'string' },
      base: { type: 'string' },
      bundle: { type: 'string', default: join(io.distDir, 'metis-bootstrap.js') },
      units: { type: 'string', default: join(io.distDir, '..', 'systemd') },
      k3s: { type: 'string' },
      overlay: { type: 'string', multiple: true, default: [] },
      enable: { type: 'string', multiple: true, default: [] },
      json: { type: 'boolean', default: false },
  });
  if (positionals.length !== 1) throw new MetisError('E_USAGE', `image build takes one CLASS\n${IMAGE_USAGE}`);
  const { spec } = await loadImageSpec(positionals[0]!, values.inventory);
  if (values.k3s) spec.k3sBinary = values.k3s;
  if (values.base) spec.base = resolve(values.base);
  const cleanups = new Cleanups();
  const result = await withInterrupts(cleanups, () => buildImage({
    spec,
    out: resolve(values.out ?? `${spec.name}.img`),
    cacheDir: resolve(values.cache),
    mirror: values.mirror,
    base: spec.base,
    payload: {
      bundle: resolve(values.bundle),
      unitsDir: resolve(values.units),
      overlays: values.overlay.map((o) => resolve(o)),
      enable: [...spec.enable, ...values.enable],
    },
    cleanups,
    log: values.json ? () => {} : io.err,
  }));
  if (values.json) io.out(JSON.stringify(result));
  else {
    const from = result.base ? ` from ${result.base}${result.installed?.length ? ` (+ ${result.installed.join(', ')})` : ''}` : '';
    io.out(`built ${result.image}${from} in ${(result.durationMs / 1000).toFixed(1)} s\nsha256 ${result.sha256}`);
  }
  return 0;
}

async function push(argv: string[], io: ImageCommandIo): Promise<number> {
  const { positionals, values } = parseFlags('image push', argv, { sign: { type: 'string' }, uncompressed: { type: 'boolean', default: false } });
  if (positionals.length !== 2) throw new MetisError('E_USAGE', `image push takes FILE and oci://REGISTRY/REPO:TAG\n${IMAGE_USAGE}`);
  const r = await pushImage(resolve(positionals[0]!), positionals[1]!, { sign: values.sign, uncompressed: values.uncompressed });
  io.out(`pushed ${positionals[1]} (${r.layerFile}, block map ${r.bmap === 'made' ? 'made from the image' : 'from the .bmap beside it'})\nmanifest ${r.digest}\nimage ${r.layerDigest} (the --sha256 a class pins)${r.signatureTag ? `\nsigned: ${r.signatureTag}` : ''}`);
  return 0;
}

async function keygen(argv: string[], io: ImageCommandIo): Promise<number> {
  const { values, positionals } = parseFlags('image keygen', argv, { out: { type: 'string', default: 'metis-image' } });
  if (positionals.length) throw new MetisError('E_USAGE', `image keygen takes no arguments\n${IMAGE_USAGE}`);
  const { privatePath, publicPath } = await writeKeyPair(resolve(values.out));
  io.out(`wrote ${privatePath} (private, 0600) and ${publicPath}\nput the public key under signatures.publicKeys in cluster.yaml`);
  return 0;
}

/** `metis image …`: the burner CLI dispatches here. Returns the exit code; never exits itself. */
export async function imageCommand(argv: string[], io: ImageCommandIo = defaultIo()): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    if (sub === 'build') return await build(rest, io);
    if (sub === 'push') return await push(rest, io);
    if (sub === 'keygen') return await keygen(rest, io);
    const help = sub === '--help' || sub === '-h' || sub === 'help';
    if (help) io.out(IMAGE_USAGE);
    else io.err(sub ? `unknown image command: ${sub}\n${IMAGE_USAGE}` : IMAGE_USAGE);
    return help ? 0 : 2;
  } catch (err) {
    io.err(`metis image ${sub}: ${errorMessage(err)}`);
    if (err instanceof InterruptedError) return err.exitCode;
    const code = (err as { code?: unknown }).code;
    if (code === 'E_USAGE' || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) return 2;
    return 1;
  }
}
