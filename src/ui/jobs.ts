import { randomBytes } from 'node:crypto';
import type { Io } from '../inventory/io.js';
import type { EventHub } from './event-hub.js';
import { lineIo, type RunMetis } from './line-io.js';

export type JobKind = 'burn' | 'wait';

interface Job {
  id: string;
  kind: JobKind;
  abort: AbortController;
  answer: ((a: string | null) => void) | null;
  done: Promise<number>;
}

/** How long a confirmation question waits for the page before it counts as "no". */
const ASK_TIMEOUT_MS = 10 * 60_000;
/** Progress lines are forwarded at most this often per job (phase changes and the last one always). */
const PROGRESS_EVERY_MS = 200;

/**
 * Long-running CLI commands (burn, wait) started from the page. Each runs in-process through the
 * CLI's own runMetis with --json; every line it prints becomes an event on the stream, its
 * confirmation question is put to the page, and Cancel is the CLI's own abort (Ctrl-C) path.
 */
export class Jobs {
  private jobs = new Map<string, Job>();

  constructor(private readonly run: RunMetis, private readonly parent: Io, private readonly hub: EventHub) {}

  running(kind: JobKind): Job | undefined {
    return [...this.jobs.values()].find((j) => j.kind === kind);
  }

  start(kind: JobKind, argv: string[], meta: Record<string, unknown>): string {
    const id = randomBytes(6).toString('hex');
    const abort = new AbortController();
    const signal = this.parent.signal ? AbortSignal.any([abort.signal, this.parent.signal]) : abort.signal;
    const job: Job = { id, kind, abort, answer: null, done: Promise.resolve(0) };
    this.hub.forget((e) => e['kind'] === kind);
    const emit = (e: Record<string, unknown>) => this.hub.send({ type: 'job', job: id, kind, t: Date.now(), ...e });
    let lastPhase = '';
    let lastAt = 0;
    const onOut = (line: string) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        emit({ line });
        return;
      }
      const ev = parsed as { event?: string; phase?: string; bytes?: number; total?: number };
      if (ev && ev.event === 'progress') {
        const now = Date.now();
        const last = typeof ev.total === 'number' && ev.bytes === ev.total;
        if (ev.phase === lastPhase && !last && now - lastAt < PROGRESS_EVERY_MS) return;
        lastPhase = ev.phase ?? '';
        lastAt = now;
      }
      emit({ data: parsed });
    };
    const ask = kind === 'burn'
      ? (question: string) =>
          new Promise<string | null>((resolve) => {
            const timer = setTimeout(() => settle(null), ASK_TIMEOUT_MS);
            let settled = false;
            const settle = (a: string | null) => {
              if (settled) return;
              settled = true;
              clearTimeout(timer);
              job.answer = null;
              emit({ answered: a === 'yes' ? 'yes' : 'no' });
              resolve(a);
            };
            job.answer = settle;
            signal.addEventListener('abort', () => settle(null), { once: true });
            emit({ ask: question });
          })
      : undefined;
    const io = lineIo({ parent: this.parent, onOut, onErr: (line) => emit({ err: line }), ask, signal });
    emit({ start: meta });
    job.done = (async () => {
      let code: number;
      try {
        code = await this.run(argv, io);
      } catch (e) {
        io.err(`metis ${argv[0]}: ${e instanceof Error ? e.message : String(e)}\n`);
        code = 1;
      }
      io.flush();
      this.jobs.delete(id);
      emit({ exit: code });
      return code;
    })();
    this.jobs.set(id, job);
    return id;
  }

  /** The page's answer to the running job's question. */
  answer(id: string, answer: 'yes' | 'no'): boolean {
    const j = this.jobs.get(id);
    if (!j?.answer) return false;
    j.answer(answer);
    return true;
  }

  cancel(id: string): boolean {
    const j = this.jobs.get(id);
    if (!j) return false;
    j.abort.abort();
    return true;
  }

  /** Aborts everything and waits for the commands to return (a burn stops before the partition table). */
  async stop(): Promise<void> {
    const all = [...this.jobs.values()];
    for (const j of all) j.abort.abort();
    await Promise.allSettled(all.map((j) => j.done));
  }
}
