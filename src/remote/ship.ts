import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { MetisError } from '../lib/errors.js';
import { type SshTarget, classifySshFailure, formatSshTarget, sshRun, sshSpawn } from '../lib/ssh.js';
import { detectCompression } from '../core/compression.js';
import { zlib } from '../core/zlib.js';
import type { ProgressEvent } from '../burner/progress.js';
import { HostError, RemoteAgentError } from './errors.js';
import type { HostFacts } from './probe.js';
import { type AgentEvent, lineReader } from './protocol.js';

/** The single-file `metis` bundle this process runs from (the one shipped to the host). */
export function localBundle(env: NodeJS.ProcessEnv): string {
  if (env.METIS_BUNDLE) return env.METIS_BUNDLE;
  if (typeof __filename === 'string' && __filename.endsWith('.js')) return __filename;
  return fileURLToPath(new URL('../../dist/metis.js', import.meta.url));
}

export async function bundleId(path: string): Promise<{ sha256: string; name: string; bytes: Buffer }> {
  const bytes = await readFile(path).catch(() => {
    throw new HostError('E_HOST_BUNDLE', path, 'the metis bundle to ship is missing: run npm run build (or set METIS_BUNDLE)');
  });
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return { sha256, name: `metis-${sha256.slice(0, 16)}.cjs`, bytes };
}

/** Content-addressed: sent only when the host has no file of that name and hash; re-hashed there after. */
export async function shipBundle(target: SshTarget, facts: HostFacts, bundle: { sha256: string; bytes: Buffer }, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<boolean> {
  if (facts.bundleSha256 === bundle.sha256) return false;
  const dir = facts.bundlePath.slice(0, facts.bundlePath.lastIndexOf('/'));
  const name = facts.bundlePath.slice(dir.length + 1);
  const script = 'set -e; umask 022; mkdir -p "$1"; t="$1/.up-$$"; trap \'rm -f "$t"\' EXIT; cat > "$t"; mv -f "$t" "$1/$2"; trap - EXIT; sha256sum "$1/$2" | cut -c1-64';
  const r = await sshRun(target, ['sh', '-c', script, 'metis-ship', dir, name], { env, input: bundle.bytes, timeoutMs: 120_000, signal });
  if (r.exitCode !== 0 || r.stdout.trim() !== bundle.sha256) {
    throw new HostError('E_HOST_BUNDLE', formatSshTarget(target), `shipping the metis bundle to ${facts.bundlePath} failed (exit ${r.exitCode}, sha256 ${r.stdout.trim() || '-'}): ${r.stderr.trim()}`);
  }
  return true;
}

/**
 * Puts a verified local file into the host's content-addressed cache unless it is there already.
 * Compressed images travel as they are; a raw image travels gzip-compressed (zeros cost nothing)
 * and is stored sparse. The host hashes what it receives and keeps it only when the digest matches.
 * `onReceiving` hears the host's temp file as soon as it exists (a burn agent may follow it).
 * Returns the bytes put on the wire (0 when cached: the probe saw it there, or the host says so).
 */
export async function sendBlob(
  target: SshTarget,
  facts: HostFacts,
  file: { path: string; sha256: string },
  opts: { env: NodeJS.ProcessEnv; signal?: AbortSignal; onProgress?: (e: ProgressEvent) => void; onReceiving?: (path: string) => void },
): Promise<number> {
  if (facts.cached.has(file.sha256)) return 0;
  const host = formatSshTarget(target);
  const raw = (await detectCompression(file.path)) === null;
  const argv = [facts.node, facts.bundlePath, 'burn-agent', 'receive', '--cache', facts.cacheDir, '--sha256', file.sha256, ...(raw ? ['--gunzip'] : [])];
  const proc = sshSpawn(target, argv, { env: opts.env, signal: opts.signal });
  let stderr = '';
  proc.stderr.on('data', (b: Buffer) => (stderr += b.toString()).length > 65536 && (stderr = stderr.slice(-32768)));
  const events: AgentEvent[] = [];
  let first: (e: AgentEvent | null) => void = () => {};
  const firstEvent = new Promise<AgentEvent | null>((r) => (first = r));
  proc.stdout.on('data', lineReader((l) => {
    try {
      const e = JSON.parse(l) as AgentEvent;
      events.push(e);
      first(e);
      if (e.event === 'receiving') opts.onReceiving?.(e.path);
    } catch {
      /* not ours */
    }
  }));
  void proc.exited.then(() => first(null));
  proc.stdin.on('error', () => {});
  const hello = await firstEvent;
  let sent = 0;
  if (hello?.event === 'have' && !hello.have) {
    const total = (await stat(file.path)).size;
    let read = 0;
    const count = new Transform({
      transform(chunk: Buffer, _e, cb) {
        read += chunk.length;
        opts.onProgress?.({ phase: 'sending', bytes: read, total });
        cb(null, chunk);
      },
    });
    const wire = new Transform({
      transform(chunk: Buffer, _e, cb) {
        sent += chunk.length;
        cb(null, chunk);
      },
    });
    const stages = raw ? [createReadStream(file.path, { highWaterMark: 1 << 20 }), count, zlib().createGzip({ level: 1 }), wire, proc.stdin] : [createReadStream(file.path, { highWaterMark: 1 << 20 }), count, wire, proc.stdin];
    await (pipeline as (...s: unknown[]) => Promise<void>)(...stages).catch(() => {});
  } else proc.stdin.end();
  const code = await proc.exited;
  if (opts.signal?.aborted) {
    // Followed by a burn agent, the card may hold the image's beginning: never its first MiB (the agent stops as aborted).
    const card = opts.onReceiving ? "the card's first MiB (its partition table) was not written" : 'nothing was written to the card';
    throw new MetisError('E_ABORTED', `${host}: interrupted while sending the image (the host keeps no partial copy); ${card}`);
  }
  const last = events[events.length - 1];
  if (last?.event === 'error') throw new RemoteAgentError(last.code, host, last.message, last.exitCode);
  if (code === 255 && !events.length) {
    throw classifySshFailure(host, 255, stderr) ?? new HostError('E_HOST_SEND', host, stderr.trim());
  }
  const ok = events.some((e) => (e.event === 'have' && e.have) || e.event === 'stored');
  if (code !== 0 || !ok) throw new HostError('E_HOST_SEND', host, `sending ${file.path} to the host's cache failed (exit ${code}): ${stderr.trim()}`);
  return sent;
}
