import { z } from 'zod';
import { MetisError } from '../../lib/errors.js';
import type { Context, Module } from '../types.js';
import { absPath, checkFile, ownership, validateSchema } from './file.js';

const args = z.strictObject({
  /** Name under templates/ ("sshd/banner.hbs"). */
  src: z.string().min(1),
  dest: absPath,
  ...ownership,
  validate: validateSchema.optional(),
  /** Extra values merged over the manifest for this template. */
  vars: z.record(z.string(), z.unknown()).default({}),
});
type Args = z.output<typeof args>;

export function renderTemplate(ctx: Context, src: string, vars: Record<string, unknown> = {}): string {
  const text = ctx.templates.get(src);
  if (text === undefined) {
    throw new MetisError('E_TEMPLATE', `no template "${src}" under templates/ (have: ${[...ctx.templates.keys()].join(', ') || 'none'})`);
  }
  return ctx.render.text(text, { ...ctx.manifest, ...vars }, `templates/${src}`);
}

export const templateModule: Module<Args> = {
  name: 'template',
  args,
  check: async (a, ctx) => checkFile(ctx, { ...a, content: renderTemplate(ctx, a.src, a.vars), validate: a.validate ? { argv: a.validate } : undefined, guardSecretMode: true }),
};
