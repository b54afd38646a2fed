import { stat } from 'node:fs/promises';
import { MetisError } from '../lib/errors.js';
import type { SshTarget } from '../lib/ssh.js';
import { RemoteAgentError } from './errors.js';
import type { HostFacts } from './probe.js';
import { type DoneEvent, type RunAgentOptions, runBurnAgent } from './run-agent.js';
import { sendBlob } from './ship.js';

export interface SendAndBurnOptions {
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  agent: Omit<RunAgentOptions, 'env' | 'signal' | 'follow' | 'beforeCommit'>;
  /** The host is receiving (`bytes`: the image's size): the burn agent starts now. */
  onReceiving?: (bytes: number) => void;
  /** The host stored the image under its digest; `bytes` went over the wire. */
  onSent?: (bytes: number) => void;
}

/**
 * A first burn: the image goes into the host's cache and onto the card at once. The burn agent
 * follows the receive's temp file as it grows (src/remote/polled-file.ts), so it may write all
 * but the first MiB before the image is whole; it hashes what it writes and its gate refuses a
 * wrong digest before the partition table, and it gets `commit` only once the host stored the
 * image (its own digest check passed). Each side's failure stops the other: a failed transfer
 * aborts the agent (the old first MiB stays) and is the error reported; a refused, declined or
 * failed burn stops the transfer (the host keeps no partial copy). A cached image (or one stored
 * meanwhile by another burn) is burned as a repeat burn is.
 */
export async function sendAndBurn(target: SshTarget, facts: HostFacts, image: { path: string; sha256: string }, o: SendAndBurnOptions): Promise<{ sent: number; done: DoneEvent }> {
  const sendStop = new AbortController();
  const burnStop = new AbortController();
  const interrupt = () => {
    sendStop.abort();
    burnStop.abort();
  };
  if (o.signal?.aborted) interrupt();
  else o.signal?.addEventListener('abort', interrupt, { once: true });
  try {
    let arriving: (path: string) => void = () => {};
    const receiving = new Promise<string>((r) => (arriving = r));
    const send = sendBlob(target, facts, image, { env: o.env, signal: sendStop.signal, onReceiving: (p) => arriving(p) });
    const ended = send.then(() => null);
    ended.catch(() => {});
    // A send that fails before the host is receiving is the whole story: no agent was started.
    const path = await Promise.race([receiving, ended]);
    if (path === null) {
      const sent = await send;
      o.onSent?.(sent);
      return { sent, done: await runBurnAgent(target, facts, { ...o.agent, env: o.env, signal: burnStop.signal }) };
    }

    const size = (await stat(image.path)).size;
    o.onReceiving?.(size);
    // Set before the burn hears of it: the burn's abort that follows is the transfer's doing, not its own failure.
    let sendFailed = false;
    send.then(
      (n) => o.onSent?.(n),
      () => {
        sendFailed = true;
        burnStop.abort();
      },
    );
    let sendStopped = false;
    const burn = runBurnAgent(target, facts, { ...o.agent, env: o.env, signal: burnStop.signal, follow: { path, size }, beforeCommit: () => send.then(() => undefined) });
    burn.catch((e: unknown) => {
      // The agent lost the file it followed: the transfer failed and will say why as it ends.
      if (sendFailed || (e instanceof RemoteAgentError && e.code === 'E_IMAGE_MISSING')) return;
      sendStopped = true;
      sendStop.abort();
    });
    const [s, b] = await Promise.allSettled([send, burn]);
    if (s.status === 'fulfilled' && b.status === 'fulfilled') return { sent: s.value, done: b.value };
    // Ctrl-C: the transfer's interruption if it was still running, else the burn's.
    if (o.signal?.aborted) throw s.status === 'rejected' ? s.reason : (b as PromiseRejectedResult).reason;
    if (s.status === 'rejected' && !sendStopped) throw saidOfBurn(s.reason);
    throw b.status === 'rejected' ? b.reason : (s as PromiseRejectedResult).reason;
  } finally {
    o.signal?.removeEventListener('abort', interrupt);
  }
}

/** A transfer's failure once the agent was writing: the card holds the image's beginning, never its first MiB. */
function saidOfBurn(e: unknown): unknown {
  if (e instanceof MetisError && e.code !== 'E_ABORTED') {
    e.message = `${e.message.replace(/; nothing was written$/, '')}; the burn on the host stopped before the card's partition table was written: the card will not boot; burn again`;
  }
  return e;
}
