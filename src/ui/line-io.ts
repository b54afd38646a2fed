import type { Io } from '../inventory/io.js';

/** Splits a stream of chunks into whole lines; flush() emits what is left. */
export function lineSplitter(onLine: (line: string) => void): { write: (s: string) => void; flush: () => void } {
  let buf = '';
  return {
    write(s) {
      buf += s;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, i).replace(/\r$/, ''));
        buf = buf.slice(i + 1);
      }
    },
    flush() {
      if (buf) onLine(buf);
      buf = '';
    },
  };
}

export interface LineIoOptions {
  /** The io `metis ui` itself was given: its environment and secret resolver are the commands'. */
  parent: Io;
  onOut: (line: string) => void;
  onErr: (line: string) => void;
  /** Who answers the command's confirmation question; null refuses (as a CLI without a terminal). */
  ask?: (question: string) => Promise<string | null>;
  signal?: AbortSignal;
}

/** An Io for one in-process CLI run whose output goes to the page line by line. */
export function lineIo(o: LineIoOptions): Io & { flush: () => void } {
  const out = lineSplitter(o.onOut);
  const err = lineSplitter(o.onErr);
  return {
    out: out.write,
    err: err.write,
    // A confirmation is asked of the person at the page, not a terminal; progress is --json anyway.
    isTTY: Boolean(o.ask),
    ask: o.ask ?? (async () => null),
    env: o.parent.env,
    secrets: o.parent.secrets,
    signal: o.signal,
    flush: () => {
      out.flush();
      err.flush();
    },
  };
}

export interface CliResult {
  argv: string[];
  code: number;
  out: string;
  err: string;
}

export type RunMetis = (argv: string[], io: Io) => Promise<number>;

/** Runs one CLI command to completion and captures what it printed. */
export async function capture(run: RunMetis, parent: Io, argv: string[], signal?: AbortSignal): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const io = lineIo({ parent, onOut: (l) => out.push(l), onErr: (l) => err.push(l), signal });
  let code: number;
  try {
    code = await run(argv, io);
  } catch (e) {
    err.push(`metis ${argv[0]}: ${e instanceof Error ? e.message : String(e)}`);
    code = 1;
  }
  io.flush();
  return { argv, code, out: out.join('\n'), err: err.join('\n') };
}

/** The JSON a `--json` command printed (one document, or one object per line), or undefined. */
export function parseJsonOutput(out: string): unknown {
  const text = out.trim();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    try {
      return text.split('\n').map((l) => JSON.parse(l) as unknown);
    } catch {
      return undefined;
    }
  }
}
