import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadManifest } from '../../../src/bootstrap/load-manifest.js';
import { scrubSecretsModule } from '../../../src/bootstrap/modules/scrub-secrets.js';
import { convergeLoop, exampleManifest, exampleManifestText, makeContext, tempRoot } from '../../helpers/context.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

describe('scrub secrets from the card', () => {
  it('overwrites every secret on the card, keeps them root-only in the state dir, and the loader restores them', async () => {
    const { root, cleanup } = tempRoot();
    cleanups.push(cleanup);
    const card = join(root, 'boot/firmware/metis/node.yaml');
    mkdirSync(join(card, '..'), { recursive: true });
    writeFileSync(card, exampleManifestText);
    const m = exampleManifest();
    const ctx = { ...makeContext({ root }), manifestPath: card };
    await convergeLoop(scrubSecretsModule, {}, ctx);
    const after = readFileSync(card, 'utf8');
    expect(after.split(m.k3s!.token).length - 1).toBe(0);
    expect(after.split(m.k3s!.nodePassword!).length - 1).toBe(0);
    expect(after).toContain('token: metis:scrubbed');
    expect(after).toContain('hostname: titan-13');
    const store = join(ctx.stateDir, 'secrets.json');
    expect(statSync(store).mode & 0o777).toBe(0o600);
    const loaded = await loadManifest(card, ctx.stateDir);
    expect(loaded.manifest.k3s?.token).toBe(m.k3s!.token);
    expect(ctx.logs()).not.toContain(m.k3s!.token);
  });

  it('never touches a manifest given from outside the boot partition', async () => {
    const { root, cleanup } = tempRoot();
    cleanups.push(cleanup);
    const elsewhere = join(root, 'node.yaml');
    writeFileSync(elsewhere, exampleManifestText);
    const ctx = { ...makeContext({ root }), manifestPath: elsewhere };
    expect((await scrubSecretsModule.check({}, ctx)).status).toBe('skip');
    expect(readFileSync(elsewhere, 'utf8')).toBe(exampleManifestText);
  });
});
