export interface ProgressEvent {
  phase: string;
  bytes: number;
  total: number;
}

export type ProgressMode = 'tty' | 'plain' | 'json';

const MB = 1e6;

function clock(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '--:--';
  const s = Math.round(sec);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/**
 * One reporter for downloads and burns: a redrawn bar with phase, MB/s and ETA on a terminal,
 * a plain line every few seconds (and on every phase change) otherwise, one JSON object per
 * event with --json. Rates are per phase and count only the bytes that phase moved: a phase that
 * starts with bytes already done (a read-back overlapped with the write, "finished") shows no rate
 * on its first line rather than those bytes over a millisecond.
 */
export function progressReporter(mode: ProgressMode, write: (s: string) => void, now: () => number = Date.now) {
  let phase = '';
  let phaseStart = 0;
  let phaseBytes = 0;
  let lastPrint = 0;
  let barOpen = false;
  const line = (e: ProgressEvent) => {
    const secs = (now() - phaseStart) / 1000;
    const rate = secs > 0 ? (e.bytes - phaseBytes) / secs : NaN;
    const pct = e.total > 0 ? Math.min(100, (100 * e.bytes) / e.total) : 0;
    const eta = e.total > 0 && rate > 0 ? (e.total - e.bytes) / rate : NaN;
    const mbs = Number.isFinite(rate) && rate >= 0 ? (rate / MB).toFixed(1) : '--';
    return { pct, text: `${e.phase.padEnd(13)} ${pct.toFixed(0).padStart(3)}% ${(e.bytes / MB).toFixed(1)}/${(e.total / MB).toFixed(1)} MB ${mbs} MB/s ETA ${clock(eta)}` };
  };
  return {
    event(e: ProgressEvent): void {
      const t = now();
      const changed = e.phase !== phase;
      if (changed) {
        if (barOpen) write('\n');
        barOpen = false;
        phase = e.phase;
        phaseStart = t;
        phaseBytes = e.bytes;
      }
      if (mode === 'json') {
        write(`${JSON.stringify({ event: 'progress', ...e })}\n`);
        return;
      }
      const { pct, text } = line(e);
      if (mode === 'tty') {
        const width = 24;
        const fill = Math.round((pct / 100) * width);
        write(`\r[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${text}\x1b[K`);
        barOpen = true;
      } else if (changed || t - lastPrint >= 2000 || (e.total > 0 && e.bytes >= e.total)) {
        lastPrint = t;
        write(`${text}\n`);
      }
    },
    end(): void {
      if (barOpen) write('\n');
      barOpen = false;
    },
  };
}
