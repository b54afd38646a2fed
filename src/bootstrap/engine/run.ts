import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import pino, { type DestinationStream, type Logger } from 'pino';
import { errorMessage } from '../../lib/errors.js';
import { Redactor } from '../../lib/redact.js';
import { loadAssets, type Assets } from '../assets.js';
import { createContext, isLive } from '../context.js';
import { findManifest, loadManifest } from '../load-manifest.js';
import { acquireLock, type Lock } from '../lock.js';
import { cleanStaleTemps } from '../stale-temps.js';
import { reportOnNode, type NodeReportOptions } from '../node-report.js';
import { KUBELET_KUBECONFIG } from '../node-kubeconfig.js';
import { NodeApi, type WarmOutcome } from '../node-api.js';
import { createLogger } from '../log.js';
import { modules as builtinModules } from '../modules/index.js';
import { buildReport, exitCodeFor, recapLine, writeReport, type PhaseTimings, type Report } from '../report.js';
import type { Module } from '../types.js';
import { VERSION } from '../../core/version.js';
import { applyPlan, notifiedAt } from './apply.js';
import { notifiedBy, readPending, runHandlers, writePending } from './handlers.js';
import { withHooks } from './hooks.js';
import { decideReboot, readBootId, reboot, rebootFilesOf, trackRebootRequired } from './reboot.js';
import { loadTasks } from './load-tasks.js';
import { activeTasks, checkTasks, prepareModules, renderTask, selectTasks } from './plan.js';
import { createRenderer, type TemplateRenderer } from './render.js';

export { exitCodeFor };

export interface RunOptions {
  /** Manifest path on the host; default: searched under root. */
  manifestPath?: string;
  root: string;
  /** Live-system commands allowed; default isLive(root): '/' on a systemd-booted system. */
  live?: boolean;
  /** Default ROOT/var/lib/metis. */
  stateDir?: string;
  checkMode: boolean;
  diff?: boolean;
  /** Only tasks carrying one of these tags (handlers run when notified). */
  tags?: string[];
  /** A ready logger (the caller then owns redaction); default: pino to logDest with secret redaction. */
  log?: Logger;
  logDest?: DestinationStream;
  logLevel?: string;
  /** Tests: other task files/templates, or other modules. */
  assets?: Assets;
  modules?: Readonly<Record<string, Module>>;
  /** Reboot once when boot files changed (docs/pi-boot.md); off by default. */
  rebootIfRequired?: boolean;
  /** Tests: where the boot id is read (default /proc/sys/kernel/random/boot_id). */
  bootIdFile?: string;
  /** Report onto this node's own Node (default on; a --tags run never reports); options for tests. */
  nodeReport?: false | Pick<NodeReportOptions, 'kubeconfig' | 'timeoutMs'>;
  /** The boot run's wait before this (full) run, recorded in its report. */
  bootWait?: Report['bootWait'];
  /** performance.now() when the engine module had loaded (main's entry), for the start event. */
  engineReadyMs?: number;
  /** Shared by the runs of one process (the boot run's two phases): what they need not load twice. */
  memo?: RunMemo;
  /**
   * The boot run's early run: the handlers its changes notify run at the end of the full run, as
   * one play's would (kept in the memo with when each was notified, and as pending until then).
   */
  handlersLater?: boolean;
}

/**
 * The boot run's second run reuses the first one's validated manifest, loaded tasks and rendered
 * tasks — only while the manifest file holds the very text the first run loaded (a scrub of the
 * card's secrets in between, or any edit, loads it again).
 */
export interface RunMemo {
  manifest?: { file: string; text: string; loaded: Awaited<ReturnType<typeof loadManifest>> };
  tasks?: ReturnType<typeof withHooks>;
  rendered?: Map<object, ReturnType<typeof renderTask>>;
  /** One handlebars environment (compiled templates) for both runs. */
  renderer?: TemplateRenderer;
  /** The apply lock, taken by the first run and held until the caller releases it (one flock for both). */
  lock?: Lock;
  /** The API connection opened during the boot's wait (by kubeconfig file), used and closed by the full run. */
  apis?: Map<string, NodeApi>;
  /** Handlers the early run's changes notified (handlersLater), and when: the full run runs them. */
  handlers?: { notified: Set<string>; since: Map<string, number> };
}

async function loadManifestMemo(file: string, stateDir: string, memo: RunMemo | undefined): Promise<Awaited<ReturnType<typeof loadManifest>>> {
  if (!memo) return loadManifest(file, stateDir);
  const text = await readFile(file, 'utf8').catch(() => null);
  if (memo.manifest && text !== null && memo.manifest.file === file && memo.manifest.text === text) return memo.manifest.loaded;
  const loaded = await loadManifest(file, stateDir);
  memo.tasks = undefined;
  memo.rendered = undefined;
  memo.manifest = text === null ? undefined : { file, text, loaded };
  return loaded;
}

const stateDirOf = (opts: RunOptions): string => opts.stateDir ?? join(opts.root, 'var/lib/metis');

/** The run's tasks and handlers and a render that caches into the memo (the boot run's two runs render each task once). */
function taskSet(opts: RunOptions, loaded: Awaited<ReturnType<typeof loadManifest>>, assets: Assets) {
  const memo = opts.memo;
  const renderer = memo ? (memo.renderer ??= createRenderer()) : createRenderer();
  const mods = opts.modules ?? builtinModules;
  const { tasks, handlers } = memo?.tasks ?? withHooks(loadTasks(assets, mods), loaded.manifest, loaded.file, mods);
  const cache = memo ? (memo.rendered ??= new Map()) : undefined;
  if (memo) memo.tasks = { tasks, handlers };
  const render = (t: (typeof tasks)[number]) => {
    const hit = cache?.get(t);
    if (hit) return hit;
    const r = renderTask(t, renderer, loaded.manifest);
    cache?.set(t, r);
    return r;
  };
  return { tasks, handlers, render };
}

/**
 * The boot run's warm-up, while it waits for metis-online.target (`until`): what the full run will
 * need — every task and handler rendered into the memo, and the connection to the API its read of
 * the Node and its report use, opened as soon as the network lets it (NodeApi.warm; its outcome is
 * returned, null when the run has none to open). Reads no other system state (the full run's facts
 * and checks come after the wait) and changes nothing. Never throws: whatever fails here fails
 * again, reported, in the full run.
 */
export async function warmRun(opts: RunOptions & { memo: RunMemo }, until: Promise<unknown> = Promise.resolve()): Promise<WarmOutcome | null> {
  let loaded;
  try {
    loaded = await loadManifestMemo(opts.manifestPath ?? (await findManifest(opts.root)), stateDirOf(opts), opts.memo);
    const { tasks, handlers, render } = taskSet(opts, loaded, opts.assets ?? loadAssets());
    for (const t of [...tasks, ...handlers]) render(t);
  } catch {
    // The full run loads, renders and reports this itself.
    return null;
  }
  if (opts.nodeReport === false || !loaded.manifest.k3s) return null;
  // The full run's API connection (the Node's read, the report): its TLS handshake is done now,
  // while systemd brings the network up, instead of on the converge's critical path.
  const file = reportKubeconfig(opts);
  const api = new NodeApi(file, opts.root);
  (opts.memo.apis ??= new Map()).set(file, api);
  return api.warm(loaded.manifest.node.hostname, until);
}

/** The kubeconfig the node report (and its read of the Node) uses. */
function reportKubeconfig(opts: RunOptions): string {
  return (opts.nodeReport || {}).kubeconfig ?? join(opts.root, KUBELET_KUBECONFIG);
}

/**
 * One converge: manifest → validate → tasks (validated, rendered) → plan (every check) → apply
 * (only planned changes) → handlers → report. Nothing changes before the whole plan exists.
 * Never throws for bad input: the report then carries `error` and exitCodeFor gives 1.
 */
export async function run(opts: RunOptions): Promise<Report> {
  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  const stateDir = stateDirOf(opts);
  const mode = opts.checkMode ? 'check' : 'apply';
  const base = { version: VERSION, mode, manifestHash: null, manifestPath: opts.manifestPath ?? null, startedAt } as const;
  let redact = new Redactor([]);
  let log = opts.log ?? createLogger({ redact, secretPaths: [], dest: opts.logDest ?? pino.destination(1), level: opts.logLevel });
  let lock: Lock | undefined;
  const phases: PhaseTimings = { loadMs: 0, factsMs: 0, planMs: 0, applyMs: 0, handlersMs: 0 };
  let mark = performance.now();
  /** Closes the current phase: its time since the last mark. */
  const lap = (phase: keyof PhaseTimings) => {
    const now = performance.now();
    phases[phase] = Math.round((now - mark) * 10) / 10;
    mark = now;
  };
  const failRun = (e: unknown, extra: Partial<Report> = {}): Report => {
    const message = redact.text(errorMessage(e));
    log.error({ kind: 'error', code: (e as { code?: string }).code }, message);
    return { ...base, ...extra, durationMs: Date.now() - started, phases, summary: { ok: 0, changed: 0, failed: 0, skipped: 0 }, tasks: [], error: message, errorCode: (e as { code?: string }).code };
  };

  let loaded;
  try {
    const manifestPath = opts.manifestPath ?? (await findManifest(opts.root));
    loaded = await loadManifestMemo(manifestPath, stateDir, opts.memo);
  } catch (e) {
    return failRun(e);
  }
  redact = new Redactor(loaded.secrets.map((s) => s.value));
  if (!opts.log) {
    log = createLogger({ redact, secretPaths: loaded.secrets.map((s) => s.path), dest: opts.logDest ?? pino.destination(1), level: opts.logLevel });
  }
  const ids = { manifestHash: loaded.hash, manifestPath: loaded.file };
  const assets = opts.assets ?? loadAssets();
  const live = opts.live ?? (await isLive(opts.root));
  const ctx = createContext({
    root: opts.root,
    live,
    checkMode: opts.checkMode,
    log,
    redact,
    manifest: loaded.manifest,
    manifestPath: loaded.file,
    stateDir,
    templates: assets.templates,
    renderer: opts.memo?.renderer,
    nodeApis: opts.memo?.apis,
  });
  const data = loaded.manifest;
  if (loaded.notice) log.warn({ kind: 'manifest-fallback', manifest: loaded.file }, loaded.notice);
  // processMs: time since this process started (node's own start, the engine's load, the manifest
  // read); engineMs: when the engine was ready (set by main); codeCache: used | absent | rejected |
  // off (src/bootstrap/code-cache.ts); startupSnapshot: node started from the node's own V8 startup
  // snapshot (systemd/metis-bootstrap-start) — where a boot's start-up time goes.
  log.info(
    { kind: 'start', version: VERSION, mode, root: opts.root, live, manifest: loaded.file, tags: opts.tags, processMs: Math.round(performance.now()), engineMs: opts.engineReadyMs, codeCache: (globalThis as { __METIS_CODE_CACHE__?: string }).__METIS_CODE_CACHE__, startupSnapshot: process.execArgv.includes('--snapshot-blob') },
    `metis-bootstrap ${VERSION} ${mode}`,
  );

  // The report's connection opens now, and its read of the Node runs beside the plan (the k3s_node
  // check shares it): the TLS handshake is off the critical path (docs/bootstrap.md, "Boot time").
  const reporting = opts.nodeReport !== false && !opts.tags?.length;
  const reportOpts = { root: opts.root, manifest: loaded.manifest, ...(opts.nodeReport || {}) };
  const api = reporting && data.k3s ? ctx.facts.nodeApi(reportKubeconfig(opts), opts.root) : undefined;
  if (api) void api.available().then((ok) => (ok ? api.node(data.node.hostname) : null)).catch(() => {});

  try {
    const { tasks, handlers, render } = taskSet(opts, loaded, assets);
    const rendered = selectTasks(tasks, opts.tags).map(render);
    const renderedHandlers = handlers.map(render);
    if (!opts.checkMode) {
      lock = opts.memo?.lock ?? (await acquireLock(stateDir));
      if (opts.memo) opts.memo.lock = lock;
    }
    if (!opts.checkMode) await cleanStaleTemps(opts.root, rendered, [stateDir, dirname(loaded.file)], log);
    lap('loadMs');
    await prepareModules(activeTasks(rendered, data), ctx);
    lap('factsMs');
    const plan = await checkTasks(rendered, ctx, data);
    lap('planMs');

    const outcomes = await applyPlan(plan, ctx);
    lap('applyMs');
    const notified = notifiedBy(outcomes);
    for (const name of await readPending(stateDir)) notified.add(name);
    const since = notifiedAt(outcomes);
    const carried = opts.memo?.handlers;
    if (carried && !opts.handlersLater) {
      // The early run's notifications, with their times: "restart iscsid" after the early phase wrote
      // the initiator name is moot when iscsid started later (coveredByStart).
      for (const n of carried.notified) notified.add(n);
      for (const [n, t] of carried.since) since.set(n, Math.max(since.get(n) ?? 0, t));
      opts.memo!.handlers = undefined;
    }
    if (opts.handlersLater && opts.memo) {
      opts.memo.handlers = { notified, since };
      // Pending until the full run has run them: a boot that never gets there loses none.
      if (!opts.checkMode) await writePending(stateDir, handlers.filter((h) => notified.has(h.name)).map((h) => h.name));
    } else {
      const failed = outcomes.some((o) => o.status === 'failed');
      outcomes.push(...(await runHandlers(renderedHandlers, notified, failed, ctx, data, since)));
    }
    lap('handlersMs');

    for (const o of outcomes) {
      // One structured event per task (journald keeps them); the terminal view formats the same events.
      const { notify: _n, name, diff, actions, ...rest } = redact.deep(o);
      const task = { kind: 'task', task: name, ...rest, ...(opts.diff ? { diff, actions } : {}) };
      log.info(task, `${o.planned ? 'would change' : o.status}: ${o.name}`);
    }
    const report = buildReport({ ...base, ...ids, durationMs: Date.now() - started, phases }, outcomes, redact);
    if (opts.bootWait) report.bootWait = opts.bootWait;
    const bootId = await readBootId(opts.bootIdFile);
    const required = await trackRebootRequired(stateDir, rebootFilesOf(outcomes), opts.checkMode, bootId);
    let rebootNow = false;
    if (required.length) {
      report.rebootRequired = required;
      log.warn({ kind: 'reboot-required', files: required }, `reboot required: ${required.join(', ')} changed`);
    }
    if (opts.rebootIfRequired) {
      const d = await decideReboot({ stateDir, live, checkMode: opts.checkMode, manifestHash: loaded.hash, bootId, required });
      report.reboot = d.note;
      rebootNow = d.reboot;
      if (required.length) log.warn({ kind: 'reboot', reboot: d.reboot }, d.note);
    }
    if (reporting) {
      report.node = await reportOnNode(report, { ...reportOpts, api });
      lap('reportMs');
    }
    await writeReport(stateDir, report);
    log.info({ kind: 'recap', summary: report.summary, durationMs: report.durationMs, phases, spawned: ctx.exec.count(), node: report.node }, recapLine(report));
    if (rebootNow) await reboot(ctx);
    return report;
  } catch (e) {
    const report = failRun(e, ids);
    if (reporting) report.node = await reportOnNode(report, { ...reportOpts, api });
    return report;
  } finally {
    ctx.facts.close();
    // A lock kept in the memo is the caller's to release (after its last run).
    if (!opts.memo?.lock) await lock?.release();
    log.flush?.();
  }
}
