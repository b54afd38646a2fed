import { z } from 'zod';
import { MetisError } from '../../lib/errors.js';
import { createRenderer, type Renderer } from '../engine/render.js';
import type { Context, Module } from '../types.js';
import { absPath, applyFile, checkFile, ownership, validateSchema, validateWith, type FilePlan } from './file.js';

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

/** One renderer per run, shared through the run's fact cache (it caches compiled templates). */
export function runRenderer(ctx: Context): Promise<Renderer> {
  return ctx.facts.get('engine:renderer', async () => createRenderer());
}

export async function renderTemplate(ctx: Context, src: string, vars: Record<string, unknown> = {}): Promise<string> {
  const text = ctx.templates.get(src);
  if (text === undefined) {
    throw new MetisError('E_TEMPLATE', `no template "${src}" under templates/ (have: ${[...ctx.templates.keys()].join(', ') || 'none'})`);
  }
  return (await runRenderer(ctx)).text(text, { ...ctx.manifest, ...vars }, `templates/${src}`);
}

export const templateModule: Module<Args, FilePlan> = {
  name: 'template',
  args,
  check: async (a, ctx) => checkFile(ctx, { ...a, content: await renderTemplate(ctx, a.src, a.vars) }),
  apply: (a, ctx, plan) => applyFile(ctx, plan.plan!, validateWith(ctx, a.validate)),
};
