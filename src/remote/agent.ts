import { isAbsolute, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { errorMessage, MetisError } from '../lib/errors.js';
import { ImageCache, HEX64 } from '../burner/source/cache.js';
import { exitCodeOf, UsageError } from '../burner/commands/exit-codes.js';
import type { Io } from '../inventory/io.js';
import { agentBurn } from './agent-burn.js';
import { haveBlob, receiveBlob } from './agent-receive.js';
import { BurnAbortedError } from '../burner/write/errors.js';
import { type AgentCommand, type AgentEvent, COMMIT_SEC, lineReader, WATCHDOG_SEC } from './protocol.js';

const USAGE = 'usage (internal, run by metis burn --host over SSH): metis burn-agent receive|burn --cache DIR --sha256 HEX [...] [--follow PATH --follow-size N]';

/**
 * Hidden `metis burn-agent`: what `metis burn --host` runs on the flashing host, from the same
 * bundle. Events go to stdout as JSON lines; commands (and the manifest) come on stdin. A closed
 * stdin, a silent workstation (no ping for WATCHDOG_SEC), SIGTERM/SIGHUP/SIGINT or a broken
 * stdout all abort: the writer stops before the partition table (the card's first MiB) is written.
 */
export async function burnAgentCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  const { values: v } = parseArgs({
    args: rest,
    strict: true,
    options: {
      cache: { type: 'string' },
      sha256: { type: 'string' },
      'bmap-sha256': { type: 'string' },
      gunzip: { type: 'boolean', default: false },
      target: { type: 'string' },
      kind: { type: 'string' },
      'no-verify': { type: 'boolean', default: false },
      follow: { type: 'string' },
      'follow-size': { type: 'string' },
    },
  });
  if (!v.cache || !v.sha256 || !HEX64.test(v.sha256)) throw new UsageError(USAGE);
  if (v['bmap-sha256'] && !HEX64.test(v['bmap-sha256'])) throw new UsageError(USAGE);
  const cache = new ImageCache(resolve(v.cache));
  const follow = followFlag(sub, v.follow, v['follow-size'], cache);
  const ac = new AbortController();
  let broken = false;
  const emit = (e: AgentEvent) => {
    if (broken) return;
    try {
      io.out(`${JSON.stringify(e)}\n`);
    } catch {
      broken = true;
      ac.abort();
    }
  };
  process.stdout.on('error', () => {
    broken = true;
    ac.abort();
  });
  for (const s of ['SIGTERM', 'SIGHUP', 'SIGINT'] as const) process.on(s, () => ac.abort());

  try {
    if (sub === 'receive') {
      if (await haveBlob(cache, v.sha256)) {
        emit({ event: 'have', sha256: v.sha256, have: true });
        process.stdin.destroy();
        return 0;
      }
      emit({ event: 'have', sha256: v.sha256, have: false });
      const bytes = await receiveBlob(cache, v.sha256, process.stdin, v.gunzip, ac.signal, (path) => emit({ event: 'receiving', path }));
      emit({ event: 'stored', sha256: v.sha256, bytes });
      return 0;
    }
    if (sub !== 'burn' || !v.target || (v.kind !== 'device' && v.kind !== 'file')) throw new UsageError(USAGE);
    emit({ event: 'ready', pid: process.pid, uid: process.getuid?.() ?? -1 });
    const { go, commit } = commandChannel(ac, emit);
    await agentBurn({ cache, sha256: v.sha256, bmapSha256: v['bmap-sha256'], target: v.target, kind: v.kind, verify: !v['no-verify'], follow, emit, go, commit, signal: ac.signal });
    return 0;
  } catch (err) {
    emit({ event: 'error', code: err instanceof MetisError ? err.code : 'E_AGENT', message: errorMessage(err), exitCode: exitCodeOf(err) });
    return exitCodeOf(err);
  } finally {
    process.stdin.destroy();
  }
}

/**
 * `--follow PATH --follow-size N` (burn only, both or neither): the image is still arriving in
 * the receive's temp file PATH, N bytes when whole. Checked before anything is opened: PATH
 * must be exactly a temp name of this cache (the agent runs as root; the name comes from the
 * receive, run as the SSH user), N a positive integer.
 */
export function followFlag(sub: string | undefined, path: string | undefined, size: string | undefined, cache: ImageCache): { path: string; size: number } | undefined {
  if (path === undefined && size === undefined) return undefined;
  const usage = (why: string) => new UsageError(`burn-agent: ${why}\n${USAGE}`);
  if (sub !== 'burn') throw usage('--follow belongs to burn');
  if (path === undefined || size === undefined) throw usage('--follow and --follow-size go together');
  if (!isAbsolute(path) || !cache.isTempPath(path)) throw usage(`--follow ${path}: not a temp file of the cache ${cache.dir}`);
  const n = /^[1-9][0-9]{0,15}$/.test(size) ? Number(size) : NaN;
  if (!Number.isSafeInteger(n)) throw usage(`--follow-size ${size}: not a positive whole number of bytes`);
  return { path, size: n };
}

/**
 * Reads the workstation's commands. The returned function waits for `go` (the manifest); after
 * it and before it, every line (the workstation pings from `ready` on) re-arms the watchdog. EOF or silence aborts.
 */
function commandChannel(ac: AbortController, emit: (e: AgentEvent) => void): { go: () => Promise<string>; commit: () => Promise<void> } {
  let manifest: string | null = null;
  let waiter: { ok: (m: string) => void; fail: (e: Error) => void } | null = null;
  let committer: { ok: () => void; fail: (e: Error) => void } | null = null;
  let timer: NodeJS.Timeout | null = null;
  const gone = (why: string) => {
    ac.abort();
    waiter?.fail(new MetisError('E_NOT_CONFIRMED', `the workstation went away before confirming (${why}); nothing was written`));
    waiter = null;
    committer?.fail(new BurnAbortedError());
    committer = null;
  };
  const arm = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => gone(`no message for ${WATCHDOG_SEC} s`), WATCHDOG_SEC * 1000);
    timer.unref();
  };
  process.stdin.on(
    'data',
    lineReader((line) => {
      let c: AgentCommand;
      try {
        c = JSON.parse(line) as AgentCommand;
      } catch {
        return;
      }
      if (c.cmd === 'go' && manifest === null) {
        manifest = c.manifest;
        arm();
        waiter?.ok(manifest);
        waiter = null;
      } else if (c.cmd === 'commit') {
        committer?.ok();
        committer = null;
      } else if (c.cmd === 'ping') arm(); else if (c.cmd === 'abort') gone('abort');
    }),
  );
  arm();
  process.stdin.on('end', () => gone('channel closed'));
  process.stdin.on('close', () => gone('channel closed'));
  process.stdin.on('error', () => gone('channel error'));
  const go = () =>
    new Promise<string>((ok, fail) => {
      if (manifest !== null) return ok(manifest);
      if (ac.signal.aborted) return fail(new MetisError('E_NOT_CONFIRMED', 'the workstation went away before confirming; nothing was written'));
      waiter = { ok, fail };
    });
  // The first MiB is written only while the workstation is demonstrably there: a dropped link or an
  // interrupt during the write leaves the card without a partition table, never half-new.
  const commit = () =>
    new Promise<void>((ok, fail) => {
      if (ac.signal.aborted) return fail(new BurnAbortedError());
      const t = setTimeout(() => {
        committer = null;
        ac.abort();
        fail(new BurnAbortedError());
      }, COMMIT_SEC * 1000);
      committer = {
        ok: () => {
          clearTimeout(t);
          ok();
        },
        fail: (e) => {
          clearTimeout(t);
          fail(e);
        },
      };
      emit({ event: 'commit' });
    });
  return { go, commit };
}
