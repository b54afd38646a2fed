import { REDACTED } from '../../manifest/secret.js';
import type { Context, DiffEntry } from '../types.js';
import { applyFile, checkFile, type FilePlan, type FileSpec } from './file.js';

export interface SetSpec extends FileSpec {
  /** Content is a secret: the diff shows [redacted] instead of before/after text. */
  secret?: boolean;
}

export interface FileSetCheck {
  diff: DiffEntry[];
  reasons: string[];
  plans: FilePlan[];
}

/** checkFile over several files, with secret contents kept out of the diff. Reads only. */
export async function checkFiles(ctx: Context, specs: SetSpec[]): Promise<FileSetCheck> {
  const out: FileSetCheck = { diff: [], reasons: [], plans: [] };
  for (const spec of specs) {
    const r = await checkFile(ctx, spec);
    if (r.status !== 'change') continue;
    out.plans.push(r.plan!);
    out.reasons.push(r.reason!);
    for (const d of r.diff ?? []) {
      const hide = spec.secret && d.target === spec.dest;
      out.diff.push(hide ? { target: d.target, before: d.before === null ? null : REDACTED, after: REDACTED } : d);
    }
  }
  return out;
}

export async function applyFiles(ctx: Context, plans: FilePlan[]): Promise<void> {
  for (const p of plans) await applyFile(ctx, p);
}
