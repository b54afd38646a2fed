import type { z } from 'zod';
import type { Logger } from 'pino';
import type { Manifest } from '../manifest/schema.js';
import type { Redactor } from '../lib/redact.js';
import type { RootedFs } from './rooted-fs.js';
import type { Exec } from './exec.js';
import type { Facts } from './facts.js';

/** What `check` found: the module is already converged, would change, or cannot run here. */
export type CheckStatus = 'ok' | 'change' | 'skip';
/** What a task ended as, in the report. */
export type TaskStatus = 'ok' | 'changed' | 'failed' | 'skipped';

/** before/after text of one managed thing (a file, a unit state, a live value). */
export interface DiffEntry {
  /** What changed: a path (/etc/hostname) or a thing (hostname, unit k3s-agent.service). */
  target: string;
  before: string | null;
  after: string | null;
}

export interface CheckResult<P = unknown> {
  status: CheckStatus;
  /** One line a person reads: why it changes, or why it is skipped. */
  reason?: string;
  diff?: DiffEntry[];
  /** Module-private data `apply` acts on (exactly what check decided). Never printed. */
  plan?: P;
}

export interface ApplyResult {
  /** Things apply learned that the report should show (generated ids, mounted state). */
  facts?: Record<string, unknown>;
  /** Set when apply had to do less than planned, or rolled back; the task is then failed. */
  failed?: string;
}

/** The single context every module gets. Nothing is reached through globals. */
export interface Context {
  /** Absolute path of the managed root; '/' on a live node. */
  root: string;
  /** true when root is '/' on a systemd-booted system: live-system commands (hostnamectl, systemctl start, mount) may run. */
  live: boolean;
  checkMode: boolean;
  /** Every path a module touches goes through this. */
  fs: RootedFs;
  exec: Exec;
  log: Logger;
  facts: Facts;
  redact: Redactor;
  /** The validated manifest (modules get their own args; this is for facts-like lookups only). */
  manifest: Manifest;
  /** Path of the manifest file on the live system (for the secret scrub). */
  manifestPath: string;
  /** Absolute state dir on the live system (under root when root is not '/'). */
  stateDir: string;
  /** Templates by name (templates/**), embedded in the bundle. */
  templates: ReadonlyMap<string, string>;
}

export interface Module<A = any, P = any> {
  /** Key used in task YAML: `- name: …\n  file: {…}`. */
  name: string;
  /** zod schema of the arguments (after templating). */
  args: z.ZodType<A>;
  /** Reads only. Must be exact: `change` iff apply would change something. */
  check(args: A, ctx: Context): Promise<CheckResult<P>>;
  /** Does exactly what `plan` says; never re-decides. */
  apply(args: A, ctx: Context, plan: CheckResult<P>): Promise<ApplyResult | void>;
  /**
   * Optional: called once per run with the args of every task using this module, before any
   * check, so state can be read in one batch (e.g. one `systemctl show` for all units) into ctx.facts.
   */
  prepare?(allArgs: A[], ctx: Context): Promise<void>;
}
