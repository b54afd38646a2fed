import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { manifestSecrets } from '../../manifest/load.js';
import { readPending, scrubCard } from '../card-scrub.js';
import { SCRUBBED, SECRETS_FILE } from '../secret-store.js';
import type { ApplyResult, Context, Module } from '../types.js';

/** Only a manifest on the card is scrubbed, never one given from elsewhere with --manifest. */
export const CARD_MANIFESTS = ['/boot/firmware/metis/node.yaml', '/boot/metis/node.yaml'];

const args = z.strictObject({});
type Args = z.output<typeof args>;

interface Plan {
  secrets: Array<{ path: string; value: string }>;
}

function onCard(ctx: Context): boolean {
  return CARD_MANIFESTS.some((p) => resolve(ctx.fs.abs(p)) === resolve(ctx.manifestPath));
}

/**
 * The card's FAT partition has no permissions: once a run got here (every earlier task
 * succeeded — a failed task stops the run), each secret is copied to the root-only state file,
 * overwritten in place on the card, and replaced by a marker the loader restores from. The writes
 * survive a power cut at any point (card-scrub.ts); after one, the next run rewrites the card.
 */
export const scrubSecretsModule: Module<Args, Plan> = {
  name: 'scrub_secrets',
  args,
  async check(_a, ctx) {
    if (!onCard(ctx)) return { status: 'skip', reason: `manifest ${ctx.manifestPath} is not on the boot partition: nothing to scrub` };
    const text = (await ctx.host.readText(ctx.manifestPath)) ?? '';
    const pending = await readPending(ctx.stateDir);
    const secrets = manifestSecrets(ctx.manifest).filter((s) => pending || text.includes(s.value));
    if (!secrets.length && !pending) return { status: 'ok' };
    return {
      status: 'change',
      reason: pending
        ? `rewrite ${ctx.manifestPath} from the last good copy (an earlier scrub of secrets was interrupted)`
        : `scrub ${secrets.map((s) => s.path).join(', ')} from the card (kept in ${join(ctx.stateDir, SECRETS_FILE)}, 0600)`,
      diff: secrets.map((s) => ({ target: `${ctx.manifestPath}: ${s.path}`, before: '[redacted]', after: SCRUBBED })),
      // Imperative (crash-safe order, docs/crash-safety.md): the store and the last good copy first
      // (0600, root-only), then the card rewritten in place; scrubCard does all of it.
      actions: [],
      data: { secrets },
    };
  },
  async apply(_a, ctx, plan): Promise<ApplyResult> {
    const secrets = plan.data!.secrets;
    // The good text: the card's, or the last good copy when an interrupted scrub left the card damaged.
    const pending = await readPending(ctx.stateDir);
    const source = pending?.lastGood ?? (await readFile(ctx.host.abs(ctx.manifestPath), 'utf8'));
    await scrubCard({ card: ctx.host.abs(ctx.manifestPath), stateDir: ctx.stateDir, source, secrets });
    return { facts: { scrubbed: secrets.map((s) => s.path), ...(pending ? { repaired: ctx.manifestPath } : {}) } };
  },
};
