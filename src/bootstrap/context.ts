import type { Logger } from 'pino';
import type { Manifest } from '../manifest/schema.js';
import type { Redactor } from '../lib/redact.js';
import { RootedFs } from './rooted-fs.js';
import { createExec } from './exec.js';
import { Facts } from './facts.js';
import type { Context } from './types.js';

export interface ContextOptions {
  root: string;
  checkMode: boolean;
  log: Logger;
  redact: Redactor;
  manifest: Manifest;
  manifestPath: string;
  stateDir: string;
  templates: ReadonlyMap<string, string>;
}

/** The one context of a run; live-system commands are allowed only when root is '/'. */
export function createContext(o: ContextOptions): Context {
  return {
    root: o.root,
    live: o.root === '/',
    checkMode: o.checkMode,
    fs: new RootedFs(o.root),
    exec: createExec(o.log, o.redact),
    log: o.log,
    facts: new Facts(),
    redact: o.redact,
    manifest: o.manifest,
    manifestPath: o.manifestPath,
    stateDir: o.stateDir,
    templates: o.templates,
  };
}

/** Reason modules give when they skip a live-only action. */
export const NOT_LIVE = 'not live (--root)';
