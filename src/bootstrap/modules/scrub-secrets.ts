import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { manifestSecrets } from '../../manifest/load.js';
import { readSecretStore, SCRUBBED, SECRETS_FILE } from '../secret-store.js';
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
 * overwritten in place on the card, and replaced by a marker the loader restores from.
 */
export const scrubSecretsModule: Module<Args, Plan> = {
  name: 'scrub_secrets',
  args,
  async check(_a, ctx) {
    if (!onCard(ctx)) return { status: 'skip', reason: `manifest ${ctx.manifestPath} is not on the boot partition: nothing to scrub` };
    const text = (await ctx.host.readText(ctx.manifestPath)) ?? '';
    const secrets = manifestSecrets(ctx.manifest).filter((s) => text.includes(s.value));
    if (!secrets.length) return { status: 'ok' };
    return {
      status: 'change',
      reason: `scrub ${secrets.map((s) => s.path).join(', ')} from the card (kept in ${join(ctx.stateDir, SECRETS_FILE)}, 0600)`,
      diff: secrets.map((s) => ({ target: `${ctx.manifestPath}: ${s.path}`, before: '[redacted]', after: SCRUBBED })),
      // The store first (0600, root-only); the in-place overwrite on the card is apply's own.
      actions: [{ kind: 'state', file: SECRETS_FILE, content: `${JSON.stringify({ ...(await readSecretStore(ctx.stateDir)), ...Object.fromEntries(secrets.map((s) => [s.path, s.value])) }, null, 2)}\n` }],
      data: { secrets },
    };
  },
  async apply(_a, ctx, plan): Promise<ApplyResult> {
    const secrets = plan.data!.secrets;
    await ctx.execute(plan.actions);

    const fh = await open(ctx.host.abs(ctx.manifestPath), constants.O_RDWR);
    try {
      const bytes = await fh.readFile();
      // Overwrite every occurrence where it lies, so the clusters that held it hold filler now.
      for (const { value } of secrets) {
        const needle = Buffer.from(value);
        for (let at = bytes.indexOf(needle); at >= 0; at = bytes.indexOf(needle, at + needle.length)) {
          await fh.write(Buffer.alloc(needle.length, 'x'), 0, needle.length, at);
        }
      }
      await fh.sync();
      let text = bytes.toString('utf8');
      for (const { value } of secrets) text = text.split(value).join(SCRUBBED);
      await fh.truncate(0);
      await fh.write(Buffer.from(text), 0, Buffer.byteLength(text), 0);
      await fh.sync();
    } finally {
      await fh.close();
    }
    return { facts: { scrubbed: secrets.map((s) => s.path) } };
  },
};
