// Where one boot's bootstrap time went, from the node's journal (`journalctl -b -o json` of the
// bootstrap units on stdin). Per unit: fork → first log line (runtime start + bundle load + manifest
// read); per run in it (the boot run `--boot` has two: early, then full) the report's phases and
// spawned processes; the boot run's wait for metis-online.target; the commands of a second or more;
// last log line → process exit.
// Prints one line per unit for the e2e timings; prints nothing it cannot read.
import { readFileSync } from 'node:fs';

const runs = new Map();
const lines = readFileSync(0, 'utf8').split('\n').filter(Boolean);
for (const line of lines) {
  let e;
  try {
    e = JSON.parse(line);
  } catch {
    continue;
  }
  const t = Number(e.__MONOTONIC_TIMESTAMP) / 1e6;
  // Added by the harness after the journal: the unit's main process exit (systemctl show), which a
  // Type=notify unit that remains active after exit does not log.
  if (e.METIS_UNIT_EXIT) {
    if (t > 0 && runs.has(e.METIS_UNIT_EXIT)) runs.get(e.METIS_UNIT_EXIT).exited = t;
    continue;
  }
  const unit = e._SYSTEMD_UNIT && e._SYSTEMD_UNIT !== 'init.scope' ? e._SYSTEMD_UNIT : e.UNIT;
  if (!unit || !unit.startsWith('metis-bootstrap')) continue;
  const r = runs.get(unit) ?? { unit, runs: [] };
  runs.set(unit, r);
  const msg = typeof e.MESSAGE === 'string' ? e.MESSAGE : '';
  if (e._SYSTEMD_UNIT === unit) {
    // The bootstrap's own output: pino JSON lines.
    r.first ??= t;
    r.last = t;
    try {
      const j = JSON.parse(msg);
      if (j.kind === 'start') {
        r.runs.push({ tags: j.tags });
        // The first run's marks: node and the engine ready, first log line, in process time.
        if (j.processMs !== undefined && r.processMs === undefined) Object.assign(r, { processMs: j.processMs, engineMs: j.engineMs, codeCache: j.codeCache, startupSnapshot: j.startupSnapshot });
      }
      else if (j.kind === 'recap' && r.runs.length) Object.assign(r.runs[r.runs.length - 1], { phases: j.phases, spawned: j.spawned });
      else if (j.kind === 'boot-wait') r.runs.push({ waitedMs: j.waitedMs, notifyMs: j.notifyMs, apiWarm: j.apiWarm, apiWarmMs: j.apiWarmMs });
      else if (j.kind === 'cmd-slow') (r.slow ??= []).push(`${j.cmd} ${(j.ms / 1000).toFixed(1)} s`);
    } catch {
      /* not a JSON line */
    }
  } else if (/^Starting /.test(msg)) r.starting = t;
  else if (/^Finished |Deactivated successfully|Main process exited/.test(msg)) r.finished ??= t;
}
const f = (s) => (s === undefined ? '?' : s.toFixed(2));
const phasesOf = (p = {}) => ['loadMs', 'factsMs', 'planMs', 'applyMs', 'handlersMs', 'reportMs'].filter((k) => k !== 'reportMs' || p[k] !== undefined).map((k) => `${k.replace('Ms', '')} ${f((p[k] ?? NaN) / 1000)}`).join(', ');
for (const r of runs.values()) {
  if (r.starting === undefined) continue;
  r.finished = r.exited ?? r.finished;
  const parts = r.runs.map((x) =>
    x.waitedMs !== undefined
      ? `waited ${f(x.waitedMs / 1000)} s for metis-online.target${x.notifyMs !== undefined ? ` (systemd-notify beside it: ${f(x.notifyMs / 1000)} s)` : ''}${x.apiWarm ? ` (API connection beside it: ${x.apiWarm} at ${f(x.apiWarmMs / 1000)} s)` : ''}`
      : `${x.tags ? x.tags.join(',') : 'full'} run: phases ${phasesOf(x.phases)} s, spawned ${x.spawned ?? '?'}`,
  );
  console.log(
    `  ${r.unit.replace('.service', '')}: start → first log line ${f(r.first - r.starting)} s` +
      (r.processMs !== undefined ? ` (in the process: engine loaded at ${f(r.engineMs / 1000)} s, code cache ${r.codeCache ?? '?'}, startup snapshot ${r.startupSnapshot === undefined ? '?' : r.startupSnapshot ? 'used' : 'no'}, first log line at ${f(r.processMs / 1000)} s)` : '') +
      `; ${parts.join('; ')}; ` +
      `last log line → finished ${f(r.finished - r.last)} s; unit total ${f(r.finished - r.starting)} s`,
  );
  // Commands that took a second or more (the bootstrap logs them: kind cmd-slow).
  if (r.slow) console.log(`    slow commands: ${r.slow.join('; ')}`);
}
