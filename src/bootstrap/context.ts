import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Manifest } from '../manifest/schema.js';
import type { Redactor } from '../lib/redact.js';
import { RootedFs } from './rooted-fs.js';
import { createExec } from './exec.js';
import { createRenderer, type TemplateRenderer } from './engine/render.js';
import { executeActions, settleActions } from './engine/execute.js';
import { Facts, type FactSources } from './facts/index.js';
import type { NodeApi } from './node-api.js';
import type { Context } from './types.js';

export interface ContextOptions {
  root: string;
  /** Live-system commands allowed: root is '/' on a system booted with systemd. */
  live: boolean;
  checkMode: boolean;
  log: Logger;
  redact: Redactor;
  manifest: Manifest;
  manifestPath: string;
  stateDir: string;
  templates: ReadonlyMap<string, string>;
  /** The handlebars environment (its compiled templates); the boot run's two runs share one. */
  renderer?: TemplateRenderer;
  /** API connections opened before the run (by kubeconfig file): the boot run's, opened during its wait. */
  nodeApis?: Map<string, NodeApi>;
  /** Tests: where live facts are read from (a fake /proc, /sys, /run). */
  factSources?: Partial<FactSources>;
}

/**
 * Whether live-system commands may run: the managed root is '/' and systemd booted this system
 * (sd_booted(3): /run/systemd/system exists). In a chroot or a build container there is no running
 * manager, so the run manages the files only, as with --root, like systemctl does offline.
 */
export async function isLive(root: string, runDir = '/run/systemd/system'): Promise<boolean> {
  if (root !== '/') return false;
  return stat(runDir).then((s) => s.isDirectory(), () => false);
}

/** The one context of a run; live-system commands are allowed only when o.live (see isLive). */
export function createContext(o: ContextOptions): Context {
  if (o.live && o.root !== '/') throw new Error('a live run manages /');
  const fs = new RootedFs(o.root);
  const exec = createExec(o.log, o.redact);
  const ctx: Context = {
    root: o.root,
    live: o.live,
    checkMode: o.checkMode,
    fs,
    host: new RootedFs('/'),
    exec,
    log: o.log,
    facts: new Facts({ fs, exec, live: o.live, ...o.factSources }, o.nodeApis),
    redact: o.redact,
    render: o.renderer ?? createRenderer(),
    manifest: o.manifest,
    manifestPath: o.manifestPath,
    stateDir: o.stateDir,
    templates: o.templates,
    execute: async (actions) => {
      // Check mode plans only: an action reaching here is an engine bug, never a silent write.
      if (ctx.checkMode) throw new Error('actions carried out in check mode');
      return executeActions(actions, ctx);
    },
    settle: () => settleActions(ctx),
  };
  return ctx;
}

/** Reason modules give when they skip a live-only action. */
export const NOT_LIVE = 'not live (--root, or systemd not running)';
