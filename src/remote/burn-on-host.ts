import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Redactor } from '../lib/redact.js';
import { type SshSession, type SshTarget, formatSshTarget, openSshSession } from '../lib/ssh.js';
import { VERSION as METIS_VERSION } from '../core/version.js';
import { manifestSecrets, serializeManifest } from '../manifest/load.js';
import type { Manifest } from '../manifest/schema.js';
import { NotConfirmedError, UsageError } from '../core/cli-errors.js';
import { humanSize, type Io } from '../inventory/io.js';
import { type ProgressEvent, progressReporter } from '../burner/progress.js';
import { detectCompression } from '../core/compression.js';
import { HostError } from './errors.js';
import { type FlasherDef, resolveFlasher } from './flashers.js';
import type { HostFacts } from './probe.js';
import { type DoneEvent, probeThenBurn, runBurnAgent, type TargetEvent } from './run-agent.js';
import { sendAndBurn } from './send-and-burn.js';
import { askHidden } from './secret-prompt.js';
import { bundleId, localBundle, sendBlob, shipBundle } from './ship.js';

export interface HostBurnRequest {
  io: Io;
  /** --host: a cluster.yaml `flashers:` name or [USER@]HOST[:PORT]. */
  host: string;
  flashers?: Record<string, FlasherDef>;
  node: string;
  /** The node's manifest; stamped here as the local burn stamps it, then sent only over the channel. */
  manifest: Manifest;
  /** The image, resolved and verified on the workstation. */
  image: { path: string; sha256: string; ref: string };
  bmap?: string;
  target: string;
  kind: 'device' | 'file';
  yes: boolean;
  json: boolean;
  verify: boolean;
  /** The connection, opened while the workstation prepared the image (connectEarly); its owner closes it. */
  connection: EarlyConnection;
}

/** An SSH master to the flashing host, opening while the caller does its local work. */
export interface EarlyConnection {
  session: Promise<SshSession>;
  /** Closes the master if it opened (idempotent; its failure to open is ignored here). */
  dispose(): Promise<void>;
}

/**
 * Starts the one SSH connection of a burn before the image is resolved and hashed on the
 * workstation (the handshake takes a few hundred ms, the hash of a compressed image as long): the
 * two overlap. Connecting changes nothing on the host; ssh runs with BatchMode, so it never prompts
 * beside the workstation's own prompts. An unusable host name fails here, at once.
 */
export function connectEarly(hostArg: string, flashers: Record<string, FlasherDef> | undefined, env: NodeJS.ProcessEnv, signal?: AbortSignal): EarlyConnection {
  const { target } = resolveFlasher(hostArg, flashers);
  const session = openSshSession(target, { env, signal });
  session.catch(() => {});
  return { session, dispose: async () => (await session.catch(() => null))?.close() };
}

/**
 * `metis burn NODE --host H`: probe (node ≥ 18, privilege, what is cached) → ship the bundle
 * (content-addressed) → the bmap → the sudo password → one agent under one sudo: checks,
 * confirmation here, write, verify, manifest injection there. An image the host lacks is sent
 * into its cache while the agent writes it (send-and-burn.ts). Returns the exit code.
 */
export async function burnOnHost(r: HostBurnRequest): Promise<number> {
  const { io } = r;
  const redact = new Redactor(manifestSecrets(r.manifest).map((s) => s.value));
  if (!r.target.startsWith('/')) throw new UsageError(`${r.kind === 'device' ? '--device' : '--to'} ${r.target}: give an absolute path on the flashing host`);
  const stamped: Manifest = { ...r.manifest, burn: { metisVersion: METIS_VERSION, burnedAt: new Date().toISOString(), image: r.image.ref, imageSha256: r.image.sha256 } };
  const manifestText = serializeManifest(stamped);
  const say = (text: string, event: Record<string, unknown>) => (r.json ? io.out(`${redact.text(JSON.stringify(event))}\n`) : io.err(`${redact.text(text)}\n`));
  const progress = progressReporter(r.json ? 'json' : io.isTTY ? 'tty' : 'plain', r.json ? io.out : io.err);
  const flasher = resolveFlasher(r.host, r.flashers);
  const host = formatSshTarget(flasher.target);
  const bundle = await bundleId(localBundle(io.env));
  // One SSH connection for the whole burn: probe, bundle, image and agent ride one master.
  return burnThrough((await r.connection.session).target, { r, redact, manifestText, say, progress, flasher, host, bundle });
}

async function burnThrough(
  target: SshTarget,
  c: {
    r: HostBurnRequest;
    redact: Redactor;
    manifestText: string;
    say: (text: string, event: Record<string, unknown>) => void;
    progress: ReturnType<typeof progressReporter>;
    flasher: ReturnType<typeof resolveFlasher>;
    host: string;
    bundle: Awaited<ReturnType<typeof bundleId>>;
  },
): Promise<number> {
  const { r, redact, manifestText, say, progress, flasher, host, bundle } = c;
  const { io } = r;
  const bmapSha256 = r.bmap ? createHash('sha256').update(await readFile(r.bmap)).digest('hex') : undefined;
  const confirm = async (e: TargetEvent) => {
    if (r.yes) return;
    const what = e.info.isBlockDevice
      ? `device ${e.info.path} on ${flasher.name} (${e.model || 'unknown model'}, ${humanSize(e.info.size)}${e.transport ? `, ${e.transport}` : ''})`
      : `image file ${e.info.path} on ${flasher.name}${e.info.size ? ` (${humanSize(e.info.size)}, overwritten)` : ' (new)'}`;
    const answer = await io.ask(`Burn node ${r.node} to ${what}? Everything on it is lost. Type "yes" to continue: `);
    if (answer === null) throw new NotConfirmedError(`not burning ${r.node} to ${what}: no terminal to confirm on; pass --yes`);
    if (answer.trim().toLowerCase() !== 'yes') throw new NotConfirmedError(`not burning ${r.node}: not confirmed`);
  };
  const sayHost = (facts: HostFacts) => say(`flashing host ${flasher.name} (${host}): node ${facts.nodeVersion}, ${facts.privilege}, cache ${facts.cacheDir}`, { event: 'host', host: flasher.name, ssh: host, node: facts.nodeVersion, privilege: facts.privilege, cache: facts.cacheDir });
  const sentSay = (n: number) => say(n ? `image sent to ${flasher.name}: ${(n / 1e6).toFixed(1)} MB on the wire` : `image already cached on ${flasher.name}: nothing sent`, { event: 'image-sent', host: flasher.name, sha256: r.image.sha256, bytesSent: n });
  const agent = { sha256: r.image.sha256, bmapSha256, target: r.target, kind: r.kind, verify: r.verify, manifest: manifestText, confirm, onProgress: (e: ProgressEvent) => progress.event(e) };
  const finish = (sent: number, done: DoneEvent): number => {
    progress.end();
    const result = { event: 'done', node: r.node, host: flasher.name, target: r.target, image: r.image.ref, imageSha256: r.image.sha256, bytesSent: sent, bytesWritten: done.bytesWritten, imageSize: done.imageSize, verified: done.verified, durationMs: done.durationMs, manifest: 'metis/node.yaml' };
    if (r.json) io.out(`${redact.text(JSON.stringify(result))}\n`);
    else {
      const mb = (n: number) => (n / 1e6).toFixed(1);
      io.out(redact.text(`burned ${r.node} to ${r.target} on ${flasher.name}: sent ${mb(sent)} MB, wrote ${mb(done.bytesWritten)} of ${mb(done.imageSize)} MB in ${(done.durationMs / 1000).toFixed(1)} s, ${done.verified ? 'verified' : 'NOT verified (--no-verify)'}; metis/node.yaml written and read back\n`));
    }
    return 0;
  };
  // A repeat burn (bundle and image cached there, no password to ask): the probe becomes the agent.
  const blobs = [r.image.sha256, ...(bmapSha256 ? [bmapSha256] : [])];
  const probed = await probeThenBurn(target, { cacheDir: flasher.cacheDir, bundleName: bundle.name, bundleSha256: bundle.sha256, blobs }, { ...agent, env: io.env, signal: io.signal }, (facts) => {
    sayHost(facts);
    sentSay(0);
  });
  if (probed.done) return finish(0, probed.done);
  const { facts } = probed;
  sayHost(facts);
  if (await shipBundle(target, facts, bundle, io.env, io.signal)) say(`shipped metis bundle ${bundle.sha256.slice(0, 16)} to ${facts.bundlePath}`, { event: 'bundle', path: facts.bundlePath, sha256: bundle.sha256, sent: true });

  // The bmap first (small), then the password: nothing is asked once image bytes flow.
  if (r.bmap && bmapSha256) await sendBlob(target, facts, { path: r.bmap, sha256: bmapSha256 }, { env: io.env, signal: io.signal });
  let password: string | undefined;
  if (facts.privilege === 'sudo-password') {
    const answer = await askHidden(io, `[sudo] password for ${facts.user} on ${flasher.name}: `);
    if (answer === null) throw new HostError('E_HOST_SUDO', host, `sudo for ${facts.user} needs a password and there is no terminal to ask on: run from a terminal, allow passwordless sudo for metis, or log in as root; nothing was written`);
    password = answer;
  }

  let sent = 0;
  let done: DoneEvent;
  if (facts.cached.has(r.image.sha256) || !(await canFollow(r))) {
    // Cached (a repeat burn), or an image the host must hold whole before its target can be judged.
    sent = await sendBlob(target, facts, { path: r.image.path, sha256: r.image.sha256 }, { env: io.env, signal: io.signal, onProgress: (e) => progress.event(e) });
    progress.end();
    sentSay(sent);
    done = await runBurnAgent(target, facts, { ...agent, password, env: io.env, signal: io.signal });
  } else {
    // Written while it is sent: only the write's progress is drawn (a sending bar would cut through
    // the confirmation prompt); on a terminal the transfer is reported once the burn is over.
    ({ sent, done } = await sendAndBurn(target, facts, r.image, {
      env: io.env,
      signal: io.signal,
      agent: { ...agent, password },
      onReceiving: (bytes) => say(`sending the image to ${flasher.name} (${(bytes / 1e6).toFixed(1)} MB); the card is written as it arrives`, { event: 'image-sending', host: flasher.name, sha256: r.image.sha256, bytes }),
      onSent: (n) => r.json && sentSay(n),
    }));
    progress.end();
    if (!r.json) sentSay(sent);
  }
  return finish(sent, done);
}

/**
 * Whether the card may be written as the image arrives: a raw image (the agent reads it only once
 * whole, its size is the file's) or a compressed one with a bmap (its decompressed size). A
 * compressed image without one records its size only at its end (or not at all, gzip): the target
 * could not be refused as too small, nor the image as truncated, before writing. As for a local
 * cold pull (docs/writing.md), it is received whole first.
 */
async function canFollow(r: HostBurnRequest): Promise<boolean> {
  return Boolean(r.bmap) || (await detectCompression(r.image.path)) === null;
}
