import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/bootstrap/load-manifest.js';
import { ValidationError } from '../../src/lib/errors.js';
import { parseManifest } from '../../src/manifest/load.js';
import { exampleManifestText, tempRoot } from '../helpers/context.js';
import { writeCard } from './card-fixture.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

const token = /token: (\S+)/.exec(exampleManifestText)![1]!;
const nodePassword = /nodePassword: (\S+)/.exec(exampleManifestText)![1]!;
const scrubbedText = exampleManifestText.replace(token, 'metis:scrubbed').replace(nodePassword, 'metis:scrubbed');

function card(text: string, store?: Record<string, string>): { file: string; stateDir: string } {
  const { root, cleanup } = tempRoot();
  cleanups.push(cleanup);
  return writeCard(root, text, store);
}

async function failure(p: Promise<unknown>): Promise<ValidationError> {
  const e = await p.then(() => null, (x: unknown) => x);
  expect(e).toBeInstanceOf(ValidationError);
  return e as ValidationError;
}

describe('loadManifest: a card whose secrets were scrubbed', () => {
  it('loads the same manifest as the unscrubbed text, hashed as the card holds it', async () => {
    const { file, stateDir } = card(scrubbedText, { 'k3s.token': token, 'k3s.nodePassword': nodePassword });
    const loaded = await loadManifest(file, stateDir);
    expect(loaded.manifest).toEqual(parseManifest(exampleManifestText, file).manifest);
    expect(loaded.hash).toBe(createHash('sha256').update(scrubbedText).digest('hex'));
    expect(loaded.secrets.map((s) => s.value).sort()).toEqual([nodePassword, token].sort());
  });

  it('an error elsewhere names the card file and the line on the card', async () => {
    const bad = scrubbedText.replace(/^(\s*)hostname: \S+$/m, '$1hostname: "Not_A_Host!"');
    const line = bad.split('\n').findIndex((l) => l.includes('Not_A_Host!')) + 1;
    const { file, stateDir } = card(bad, { 'k3s.token': token, 'k3s.nodePassword': nodePassword });
    const e = await failure(loadManifest(file, stateDir));
    expect(e.message).toContain(file);
    const issue = e.issues.find((i) => i.path.endsWith('hostname'));
    expect(issue?.line).toBe(line);
  });

  it('a restored value that does not validate is named by its field, its value never shown', async () => {
    const badToken = 'K10short-and-wrong-restored-secret';
    const { file, stateDir } = card(scrubbedText, { 'k3s.token': badToken, 'k3s.nodePassword': nodePassword });
    const e = await failure(loadManifest(file, stateDir));
    expect(e.issues.map((i) => i.path)).toContain('k3s.token');
    expect(JSON.stringify(e.issues) + e.message).not.toContain(badToken);
  });
});
