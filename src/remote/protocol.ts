/**
 * The burn agent's wire protocol: JSON lines. The agent (on the flashing host) writes events to
 * stdout; the workstation writes commands to its stdin. Nothing secret ever goes into argv: the
 * manifest travels in the `go` command, inside the SSH channel.
 */

export type AgentEvent =
  | { event: 'ready'; pid: number; uid: number }
  | { event: 'have'; sha256: string; have: boolean }
  | { event: 'stored'; sha256: string; bytes: number }
  /** The receive's temp file exists (absolute path on the host): a burn agent may follow it as it grows. */
  | { event: 'receiving'; path: string }
  | { event: 'progress'; phase: string; bytes: number; total: number }
  | { event: 'target'; info: { path: string; kind: 'block' | 'file'; size: number; isBlockDevice: boolean }; model: string; transport: string }
  | { event: 'commit' }
  | { event: 'done'; bytesWritten: number; imageSize: number; verified: boolean; durationMs: number }
  | { event: 'error'; code: string; message: string; exitCode: number };

export type AgentCommand = { cmd: 'go'; manifest: string } | { cmd: 'commit' } | { cmd: 'ping' } | { cmd: 'abort' };

/** Seconds the agent waits for the workstation's `commit` before writing the first MiB. */
export const COMMIT_SEC = 10;

/** Seconds without any line from the workstation after which the agent stops (a dropped link). */
export const WATCHDOG_SEC = 20;
/** How often the workstation pings. */
export const PING_SEC = 3;

/** Splits a byte stream into lines; calls `onLine` for each complete one. */
export function lineReader(onLine: (line: string) => void): (chunk: Buffer | string) => void {
  let buf = '';
  return (chunk) => {
    buf += chunk.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.trim()) onLine(line);
    }
    // A line is never longer than a manifest; cap what a broken peer can make us hold.
    if (buf.length > 4 * 1024 * 1024) buf = '';
  };
}
