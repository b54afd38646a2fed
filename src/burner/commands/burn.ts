import { resolve } from 'node:path';
import { parseFlags } from '../../core/flags.js';
import { Redactor } from '../../lib/redact.js';
import { manifestSecrets } from '../../manifest/load.js';
import { loadInventory } from '../../inventory/load.js';
import { ParseStore } from '../../inventory/parse-store.js';
import { engineHash } from '../../core/engine-hash.js';
import { cliParsedDir } from '../code-cache.js';
import { type BurnEvent, burnNode, claimTargetEarly, fetchNodeImage, planNodeImage } from '../pipeline.js';
import { burnOnHost, connectEarly, type EarlyConnection } from '../../remote/burn-on-host.js';
import { progressReporter } from '../progress.js';
import { defaultCacheDir, ImageCache } from '../source/cache.js';
import { confirmBurn } from './confirm.js';
import { UsageError } from './exit-codes.js';
import { inventoryDir, type Io, resolverFor } from '../../inventory/io.js';
import { escrowNotice } from '../../identity/apply.js';

export const BURN_USAGE = `usage: metis burn NODE (--device DEV | --to FILE) [options]

Writes the class image to a card (or a card image file) and puts NODE's manifest on it:
inventory → target checked and claimed → image fetched and sha256-verified → image checked
(partition table inside the image, fits the target) → confirmation → sparse write, read back →
metis/node.yaml into the FAT boot partition, read back and validated.

  --device DEV        a whole disk (see metis devices); needs root or write access to DEV
  --to FILE           a card image file instead; created mode 0600 (it holds the join token)
  --image REF         PATH, http(s)://URL or oci://HOST/REPO:TAG instead of the class's image.ref
  --sha256 HEX        expected sha256 of the image (also sha256:HEX, any case)
  --require-digest    refuse an image whose sha256 is not known in advance
  --bmap FILE         block map (bmaptool) of the image; IMAGE.bmap beside a local image is used
  --yes               do not ask (otherwise type "yes" on the terminal)
  --json              one JSON object per event on stdout
  --no-verify         skip reading the written bytes back
  --inventory DIR     inventory directory (default ./inventory)
  --cache DIR         image cache (default METIS_CACHE_DIR, $XDG_CACHE_HOME/metis, ~/.cache/metis)
  --host H            write on a flashing host over SSH (H: a cluster.yaml flashers name or [USER@]HOST[:PORT]);
                      DEV/FILE are paths there (docs/remote.md)
  -h, --help          this text`;

const FLAGS = {
  device: { type: 'string' },
  to: { type: 'string' },
  image: { type: 'string' },
  sha256: { type: 'string' },
  'require-digest': { type: 'boolean', default: false },
  bmap: { type: 'string' },
  yes: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  'no-verify': { type: 'boolean', default: false },
  inventory: { type: 'string' },
  cache: { type: 'string' },
  host: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

type BurnFlags = ReturnType<typeof parseFlags<typeof FLAGS>>['values'];

/** `metis burn`: arguments, prompt, progress and exit code; the burn itself is burnNode (src/burner/pipeline.ts). */
export async function burnCommand(argv: string[], io: Io): Promise<number> {
  const { values: v, positionals } = parseFlags('burn', argv, FLAGS);
  if (v.help) {
    io.out(`${BURN_USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`burn takes one NODE\n${BURN_USAGE}`);
  if (Boolean(v.device) === Boolean(v.to)) throw new UsageError(`give exactly one of --device DEV or --to FILE\n${BURN_USAGE}`);
  if (v.sha256 && !/^(sha256:)?[0-9a-fA-F]{64}$/.test(v.sha256)) throw new UsageError('--sha256 must be 64 hex characters (optionally prefixed sha256:)');
  const node = positionals[0]!;
  const dir = inventoryDir(v.inventory);
  // A local burn claims and checks its target while the inventory is read (burnNode still reports
  // an invalid inventory or manifest first, and releases the claim whatever happens).
  const claimed = v.host ? undefined : claimTargetEarly(v.device ? { device: v.device } : { file: v.to! }, io.env);
  // Through a flashing host, the SSH handshake starts as soon as cluster.yaml (its `flashers:`) is
  // read: beside the rest of the inventory, the manifest and the image's resolution and hash.
  const early: { connection?: EarlyConnection } = {};
  try {
    return await burnWith(io, v, node, dir, claimed, early);
  } finally {
    await claimed?.then((c) => c.release(), () => {});
    await early.connection?.dispose();
  }
}

async function burnWith(io: Io, v: BurnFlags, node: string, dir: string, claimed: ReturnType<typeof claimTargetEarly> | undefined, early: { connection?: EarlyConnection }): Promise<number> {
  const json = v.json;
  const progress = progressReporter(json ? 'json' : io.isTTY ? 'tty' : 'plain', json ? io.out : io.err);
  const host = v.host;
  const parsed = ParseStore.open(cliParsedDir(io.env), engineHash());
  const inv = await loadInventory(dir, { only: node, parsed, onCluster: host ? (c) => (early.connection = connectEarly(host, c.def.flashers, io.env, io.signal)) : undefined });
  for (const w of inv.warnings) say(io, json, `warning: ${w.message}`, { event: 'warning', code: 'W_INVENTORY', file: w.file, message: w.message });
  let redact = new Redactor([]);
  const identity = await escrowNotice(dir, node);
  say(io, json, identity, { event: 'identity', node, escrowed: !identity.includes('no identity escrow'), message: identity });

  const onEvent = (e: BurnEvent) => {
    if (e.event === 'progress') return progress.event(e);
    progress.end();
    if (e.event === 'image') say(io, json, `image ${e.ref}${e.sha256 ? ` (sha256 ${e.sha256})` : ''}`, e);
    else if (e.event === 'image-ready') {
      const what = e.streaming ? `image streaming: written while it downloads into the cache` : `image ready: ${e.path}`;
      say(io, json, `${what} (from ${e.from}${e.sha256 ? `, sha256 ${e.sha256}` : ''}${e.verified ? '' : ', checked while writing'})`, e);
    }
    else if (e.event === 'warning') say(io, json, `\nWARNING: ${e.message}\n`, e);
    else if (e.event === 'signature') say(io, json, e.note, e);
    else if (e.event === 'no-bmap') say(io, json, e.message, e);
    else if (json) io.out(`${JSON.stringify(e)}\n`);
  };

  const cache = new ImageCache(resolve(v.cache ?? defaultCacheDir(io.env)));
  if (v.host) {
    // The source stage runs here (the image verified whole, its signature judged); the device
    // stage (writeCard) runs on the flashing host in the shipped bundle (src/remote/agent-burn.ts).
    // The SSH connection opened when cluster.yaml was read (burnCommand closes it).
    const plan = await planNodeImage({ inventory: inv, node, secrets: resolverFor(io, dir), image: v.image, sha256: v.sha256, requireDigest: v['require-digest'] });
    const got = await fetchNodeImage(plan, { inventory: inv, cache, bmap: v.bmap, env: io.env, signal: io.signal, onProgress: onEvent, verifyNow: true });
    progress.end();
    return await burnOnHost({ io, host: v.host, flashers: inv.cluster.def.flashers, node, manifest: plan.manifest, image: { path: got.img.path, sha256: got.sha256!, ref: got.img.ref }, bmap: got.bmap, target: (v.device ?? v.to)!, kind: v.device ? 'device' : 'file', yes: v.yes, json, verify: !v['no-verify'], connection: early.connection! });
  }
  try {
    const result = await burnNode({
      inventory: inv,
      node,
      target: v.device ? { device: v.device } : { file: v.to! },
      image: v.image,
      sha256: v.sha256,
      bmap: v.bmap,
      verify: !v['no-verify'],
      requireDigest: v['require-digest'],
      cache,
      secrets: resolverFor(io, dir),
      env: io.env,
      confirm: async (info, manifest) => {
        redact = new Redactor(manifestSecrets(manifest).map((s) => s.value));
        progress.end();
        if (!v.yes) await confirmBurn(io, node, info);
      },
      onProgress: onEvent,
      signal: io.signal,
      claimed,
    });
    progress.end();
    const done = { event: 'done', node, target: result.target, image: result.image.ref, imageSha256: result.image.sha256, digestKnown: result.image.digestKnown, bytesWritten: result.bytesWritten, imageSize: result.imageSize, verified: result.verified, durationMs: result.durationMs, manifest: result.manifest, ...(result.fileMode ? { fileMode: result.fileMode } : {}) };
    if (json) io.out(`${redact.text(JSON.stringify(done))}\n`);
    else {
      const mb = (n: number) => (n / 1e6).toFixed(1);
      const mode = result.fileMode ? `; ${result.target} is mode ${result.fileMode} (it holds the join token: keep it private, delete it after use)` : '';
      const pin = result.image.digestKnown ? '' : ' (image sha256 not pinned)';
      io.out(redact.text(`burned ${node} to ${result.target}: wrote ${mb(result.bytesWritten)} of ${mb(result.imageSize)} MB in ${(result.durationMs / 1000).toFixed(1)} s, ${result.verified ? 'verified' : 'NOT verified (--no-verify)'}${pin}; ${result.manifest} written and read back${mode}\n`));
    }
    return 0;
  } finally {
    progress.end();
  }
}

function say(io: Io, json: boolean, text: string, event: object): void {
  if (json) io.out(`${JSON.stringify(event)}\n`);
  else io.err(`${text}\n`);
}
