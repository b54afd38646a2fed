import { describe, expect, it } from 'vitest';
import { progressReporter } from '../../../src/burner/progress.js';

function drive(mode: 'tty' | 'plain' | 'json') {
  let t = 0;
  let out = '';
  const p = progressReporter(mode, (s) => (out += s), () => t);
  p.event({ phase: 'writing', bytes: 0, total: 100e6 });
  t = 1000;
  p.event({ phase: 'writing', bytes: 25e6, total: 100e6 });
  t = 2500;
  p.event({ phase: 'writing', bytes: 50e6, total: 100e6 });
  t = 3000;
  p.event({ phase: 'verifying', bytes: 10e6, total: 50e6 });
  p.end();
  return out;
}

describe('progress', () => {
  it('tty: one redrawn bar per phase with percent, MB/s and ETA', () => {
    const out = drive('tty');
    expect(out).toContain('\r[######..................] writing        25% 25.0/100.0 MB 25.0 MB/s ETA 0:03');
    expect(out.split('\n')).toHaveLength(3);
  });
  it('plain: a line on phase change and at most every 2 s', () => {
    const lines = drive('plain').trim().split('\n');
    expect(lines.map((l) => l.split(/\s+/)[0])).toEqual(['writing', 'writing', 'verifying']);
    expect(lines[1]).toMatch(/50% 50\.0\/100\.0 MB 20\.0 MB\/s ETA 0:03/);
  });
  it('a phase that starts with bytes done shows no rate until it moves, then the rate of its own bytes', () => {
    let t = 0;
    let out = '';
    const p = progressReporter('plain', (s) => (out += s), () => t);
    p.event({ phase: 'verifying', bytes: 260e6, total: 286e6 });
    t = 2000;
    p.event({ phase: 'verifying', bytes: 280e6, total: 286e6 });
    t = 2001;
    p.event({ phase: 'finished', bytes: 287e6, total: 287e6 });
    const lines = out.trim().split('\n');
    expect(lines[0]).toMatch(/verifying +91% 260\.0\/286\.0 MB -- MB\/s ETA --:--$/);
    expect(lines[1]).toMatch(/verifying +98% 280\.0\/286\.0 MB 10\.0 MB\/s ETA 0:01$/);
    expect(lines[2]).toMatch(/finished +100% 287\.0\/287\.0 MB -- MB\/s ETA --:--$/);
  });
  it('json: one event object per line', () => {
    const events = drive('json').trim().split('\n').map((l) => JSON.parse(l));
    expect(events).toHaveLength(4);
    expect(events[3]).toEqual({ event: 'progress', phase: 'verifying', bytes: 10e6, total: 50e6 });
  });
});
