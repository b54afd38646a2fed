import { describe, expect, it } from 'vitest';
import { manifestHash } from '../../src/manifest/hash.js';
import { parseManifest } from '../../src/manifest/load.js';
import { exampleManifest, exampleManifestText } from '../helpers/context.js';

const TOKEN = /token: (\S+)/.exec(exampleManifestText)![1]!;

describe('manifestHash (the one hash node and operator compute)', () => {
  const base = manifestHash(exampleManifest());

  it('is stable: same manifest, same hash; key order and filled-in defaults do not matter', () => {
    expect(manifestHash(exampleManifest())).toBe(base);
    const m = exampleManifest();
    const reordered = Object.fromEntries(Object.entries(m).reverse()) as typeof m;
    expect(manifestHash(reordered)).toBe(base);
    expect(base).toMatch(/^[0-9a-f]{64}$/);
  });

  it('changes with a label, a mount option or a journald limit', () => {
    const m = exampleManifest();
    expect(manifestHash({ ...m, k3s: { ...m.k3s!, labels: { ...m.k3s!.labels, zone: 'b' } } })).not.toBe(base);
    expect(manifestHash({ ...m, journald: { ...m.journald, systemMaxUse: '300M' } })).not.toBe(base);
    expect(manifestHash({ ...m, mounts: m.mounts.map((x, i) => (i === 0 ? { ...x, options: [...x.options, 'noatime'] } : x)) })).not.toBe(base);
  });

  it("leaves out secret values (a secret's presence counts) and the burner's stamp", () => {
    const m = exampleManifest();
    expect(manifestHash({ ...m, k3s: { ...m.k3s!, token: TOKEN.replace(/.$/, 'Z') } })).toBe(base);
    expect(manifestHash({ ...m, burn: { metisVersion: '9', burnedAt: '2026-01-01T00:00:00Z' } })).toBe(base);
    const { nodePassword: _p, ...noPw } = m.k3s!;
    expect(manifestHash({ ...m, k3s: noPw })).not.toBe(base);
  });

  it('the card text and the parsed object agree: parse(text) hashes like the object', () => {
    expect(manifestHash(parseManifest(exampleManifestText).manifest)).toBe(base);
  });
});
