import type { z } from 'zod';
import type { Logger } from 'pino';
import type { Manifest } from '../manifest/schema.js';
import type { Redactor } from '../lib/redact.js';
import type { Action } from './actions.js';
import type { RootedFs } from './rooted-fs.js';
import type { Exec } from './exec.js';
import type { Facts } from './facts/index.js';
import type { TemplateRenderer } from './engine/render.js';

export type { Action };

/** What a task ended as, in the report. */
export type TaskStatus = 'ok' | 'changed' | 'failed' | 'skipped';

/** before/after text of one managed thing (a file, a unit state, a live value). */
export interface DiffEntry {
  /** What changed: a path (/etc/hostname) or a thing (hostname, unit k3s-agent.service). */
  target: string;
  before: string | null;
  after: string | null;
}

/** A planned change: what differs (diff), why (reason), and exactly what the engine will do (actions). */
export interface Change<D = undefined> {
  status: 'change';
  /** One line a person reads: why it changes. */
  reason: string;
  diff?: DiffEntry[];
  /** Carried out in order by the engine (or by the module's own `apply`, which gets them). */
  actions: Action[];
  /** Module-private data an imperative `apply` needs besides the actions (never printed). */
  data?: D;
}

/**
 * What `check` found, as one of four outcomes the engine understands: converged, a typed plan,
 * not applicable here, or cannot succeed (reported failed, also by `--check`: exit 4, not drift).
 */
export type CheckResult<D = undefined> =
  | { status: 'ok'; reason?: string }
  | Change<D>
  | { status: 'skip'; reason: string }
  | { status: 'fail'; reason: string };

/** A fact value apply learned and the report shows (generated ids, fingerprints, mounted state). */
export type FactValue = string | number | boolean | string[] | Record<string, boolean>;

export interface ApplyResult {
  /** Things apply learned that the report shows. */
  facts?: Record<string, FactValue>;
  /** Set when apply had to do less than planned, or rolled back; the task is then failed. */
  failed?: string;
}

/** The single context every module gets. Nothing is reached through globals. */
export interface Context {
  /** Absolute path of the managed root; '/' on a live node. */
  root: string;
  /** true when root is '/' on a systemd-booted system: live-system commands (hostname, systemctl start, mount) may run. */
  live: boolean;
  checkMode: boolean;
  /** Every path on the managed system goes through this. */
  fs: RootedFs;
  /** Paths the run itself was given on this host: the state dir and the manifest file. */
  host: RootedFs;
  exec: Exec;
  log: Logger;
  facts: Facts;
  redact: Redactor;
  /** Renders templates (templates/**): one handlebars environment per run. */
  render: TemplateRenderer;
  /** The validated manifest (modules get their own args; this is for lookups only). */
  manifest: Manifest;
  /** Path of the manifest file on this host (for the secret scrub). */
  manifestPath: string;
  /** Absolute state dir on this host (under root when root is not '/'). */
  stateDir: string;
  /** Templates by name (templates/**), embedded in the bundle. */
  templates: ReadonlyMap<string, string>;
  /** Carries out actions (engine/execute.ts); returns the facts they produced. */
  execute(actions: readonly Action[]): Promise<Record<string, FactValue>>;
  /** Ends a batch of applied tasks (engine/execute.ts settleActions): unit → why its queued start failed. */
  settle(): Promise<Map<string, string>>;
}

export interface Module<A = any, D = any> {
  /** Key used in task YAML: `- name: …\n  file: {…}`. */
  name: string;
  /** zod schema of the arguments (after templating). */
  args: z.ZodType<A>;
  /** Reads only. Must be exact: `change` iff carrying out its actions would change something. */
  check(args: A, ctx: Context): Promise<CheckResult<D>>;
  /**
   * The plan checks tasks side by side (engine/plan.ts); a module whose check runs the user's own
   * commands (`command`) is checked alone, after the checks before it and before those after it.
   */
  exclusiveCheck?: boolean;
  /**
   * Only for truly imperative modules (activate a network and roll back, grow a disk and verify):
   * does the plan, its writes and commands through `ctx.execute`. Without it the engine carries
   * out `plan.actions` itself.
   */
  apply?(args: A, ctx: Context, plan: Change<D>): Promise<ApplyResult | void>;
  /**
   * Optional: called once per run with the args of every task using this module, before any
   * check, so state can be read in one batch (e.g. one `systemctl show` for all units) into ctx.facts.
   */
  prepare?(allArgs: A[], ctx: Context): Promise<void>;
}
