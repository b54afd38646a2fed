import { z } from 'zod';
import { journaldSchema } from '../../manifest/schema.js';
import type { Module } from '../types.js';
import { checkFile } from './file.js';

export const JOURNALD_DROPIN = '/etc/systemd/journald.conf.d/60-metis.conf';
const args = journaldSchema;
type Args = z.output<typeof args>;

export const HEADER = '# Managed by metis-bootstrap from the node manifest; edits here are replaced on the next converge.\n';

export function journaldConf(a: Args): string {
  const lines = [`Storage=${a.storage}`, `SystemMaxUse=${a.systemMaxUse}`];
  if (a.runtimeMaxUse) lines.push(`RuntimeMaxUse=${a.runtimeMaxUse}`);
  if (a.maxRetentionSec) lines.push(`MaxRetentionSec=${a.maxRetentionSec}`);
  return `${HEADER}[Journal]\n${lines.join('\n')}\n`;
}

/** A drop-in, never the vendor journald.conf, so package upgrades don't conflict; restart via notify. */
export const journaldModule: Module<Args> = {
  name: 'journald',
  args,
  check: (a, ctx) => checkFile(ctx, { dest: JOURNALD_DROPIN, content: journaldConf(a), mode: 0o644 }),
};
