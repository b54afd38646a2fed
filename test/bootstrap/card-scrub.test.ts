import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { LAST_GOOD, SCRUB_PENDING, scrubCard, type Step } from '../../src/bootstrap/card-scrub.js';
import { findManifest, loadManifest } from '../../src/bootstrap/load-manifest.js';
import { scrubSecretsModule } from '../../src/bootstrap/modules/scrub-secrets.js';
import { removeStaleTemps } from '../../src/bootstrap/stale-temps.js';
import { manifestSecrets, parseManifest } from '../../src/manifest/load.js';
import { exampleManifestText, makeContext, tempRoot } from '../helpers/context.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

const original = parseManifest(exampleManifestText, 'node.yaml');
const secretValues = manifestSecrets(original.manifest).map((s) => s.value);

function card(): { root: string; file: string; stateDir: string } {
  const { root, cleanup } = tempRoot('metis-scrubfi-');
  cleanups.push(cleanup);
  const file = join(root, 'boot/firmware/metis/node.yaml');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, exampleManifestText);
  return { root, file, stateDir: join(root, 'var/lib/metis') };
}

/** Runs the module as a run would: the loader's view of the manifest, then check → apply. */
async function scrubRun(root: string): Promise<{ status: string; notice?: string }> {
  const file = await findManifest(root);
  const loaded = await loadManifest(file, join(root, 'var/lib/metis'));
  const ctx = { ...makeContext({ root, manifest: loaded.manifest }), manifestPath: loaded.file };
  const checked = await scrubSecretsModule.check({}, ctx);
  if (checked.status === 'change') await scrubSecretsModule.apply!({}, ctx, checked);
  return { status: checked.status, notice: loaded.notice };
}

const counts = { points: 0, fellBack: 0 };
afterAll(() => console.log(`card scrub fault injection: stopped at each of ${counts.points} steps; the manifest loaded every time (${counts.fellBack}× from the last good copy), and the next run repaired the card`));

describe('the card scrub, stopped at every write (a kill or an I/O error there)', () => {
  it('the next boot always loads the same manifest, and its scrub leaves a card that validates with no secret on it', async () => {
    const steps: string[] = [];
    {
      const { root, file, stateDir } = card();
      await scrubCard({ card: file, stateDir, source: exampleManifestText, secrets: manifestSecrets(original.manifest), step: (n, fn) => (steps.push(n), fn()) });
      void root;
    }
    expect(steps.length).toBeGreaterThan(10);
    for (let n = 1; n <= steps.length; n++) {
      const { root, file, stateDir } = card();
      let seen = 0;
      const step: Step = (name, fn) => {
        if (++seen === n) throw Object.assign(new Error(`stopped at step ${n}: ${name}`), { code: 'EIO' });
        return fn();
      };
      await expect(scrubCard({ card: file, stateDir, source: exampleManifestText, secrets: manifestSecrets(original.manifest), step })).rejects.toThrow(/stopped at step/);
      counts.points++;
      const where = `stopped at ${steps[n - 1]}`;

      // The next boot: the manifest loads, and it is the same manifest.
      const loaded = await loadManifest(await findManifest(root), stateDir);
      expect(loaded.manifest, where).toEqual(original.manifest);
      if (loaded.notice) counts.fellBack++;

      // Its scrub repairs the card; a leftover temp goes with the run's stale-temp sweep.
      await removeStaleTemps([dirname(file), stateDir]);
      const r = await scrubRun(root);
      expect(r.status, `${where}: the cut run is finished by the next`).toBe('change');
      const text = readFileSync(file, 'utf8');
      for (const v of secretValues) expect(text.includes(v), `${where}: a secret is still on the card`).toBe(false);
      expect(existsSync(join(stateDir, SCRUB_PENDING)), where).toBe(false);
      const again = await loadManifest(file, stateDir);
      expect(again.notice, where).toBeUndefined();
      expect(again.manifest, where).toEqual(original.manifest);
      expect((await scrubRun(root)).status, `${where}: a third run changes nothing`).toBe('ok');
      expect(readdirSync(dirname(file)).filter((f) => f.includes('.metis-')), where).toEqual([]);
      expect(statSync(join(stateDir, LAST_GOOD)).mode & 0o777).toBe(0o600);
    }
  }, 120_000);

  it('a card manifest missing after an interrupted scrub is found and replaced from the last good copy, with a notice', async () => {
    const { root, file, stateDir } = card();
    let seen = 0;
    await scrubCard({ card: file, stateDir, source: exampleManifestText, secrets: manifestSecrets(original.manifest), step: (name, fn) => (name.startsWith('overwrite') && ++seen === 1 ? Promise.reject(new Error('cut')) : fn()) }).catch(() => undefined);
    rmSync(file);
    const r = await scrubRun(root);
    expect(r.notice).toMatch(/node\.yaml is missing or unreadable after an interrupted scrub of secrets; using the last good copy .*manifest\.last-good\.yaml/);
    expect(r.status).toBe('change');
    expect((await loadManifest(file, stateDir)).manifest).toEqual(original.manifest);
  });

  it('without an interrupted scrub, a bad card manifest is an error as always (an operator edit is not overridden)', async () => {
    const { root, file, stateDir } = card();
    await scrubRun(root);
    writeFileSync(file, 'schemaVersion: 1\nnode: [\n');
    await expect(loadManifest(file, stateDir)).rejects.toMatchObject({ code: 'E_VALIDATION' });
    expect(readFileSync(file, 'utf8')).toBe('schemaVersion: 1\nnode: [\n');
  });
});
