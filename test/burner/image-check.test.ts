import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inspectImage } from '../../src/burner/image-check.js';
import { BOOT_START, makeImage, MIB, tempDirs } from './fixtures.js';

const dir = tempDirs('metis-imgchk-');

/** The head's temp dirs go to TMPDIR: a private one per test, so other test files' burns are not counted. */
function privateTmp(d: string): { left: () => string[]; restore: () => void } {
  const t = join(d, 'tmp');
  mkdirSync(t);
  const saved = process.env['TMPDIR'];
  process.env['TMPDIR'] = t;
  expect(tmpdir()).toBe(t);
  return {
    left: () => readdirSync(t),
    restore: () => {
      if (saved === undefined) delete process.env['TMPDIR'];
      else process.env['TMPDIR'] = saved;
    },
  };
}

/** The image (160 MiB, table to its end) in each container a burn takes. */
function containers(d: string): Record<string, string> {
  const img = makeImage(d, { dataMiB: 2 });
  execFileSync('xz', ['-T2', '--block-size=8MiB', '-1', '-k', '-q', img]);
  execFileSync('zstd', ['-q', '-1', '-k', img, '-o', `${img}.zst`]);
  execFileSync('gzip', ['-1', '-k', img]);
  return { raw: img, xz: `${img}.xz`, zst: `${img}.zst`, gz: `${img}.gz` };
}

describe('inspectImage', () => {
  it('knows size, table and compression of each container; leaves no temp dir behind', async () => {
    const d = dir();
    const files = containers(d);
    const tmp = privateTmp(d);
    try {
      for (const [kind, file] of Object.entries(files)) {
        const facts = await inspectImage(file);
        expect(facts.compression, kind).toBe(kind === 'raw' ? null : kind);
        expect(facts.size, kind).toBe(160 * MIB);
        expect(facts.tableEnd, kind).toBe(160 * MIB);
        expect(facts.partitions.map((p) => p.offset), kind).toEqual([BOOT_START * 512, (BOOT_START + 131072) * 512]);
      }
      expect(tmp.left()).toEqual([]);
    } finally {
      tmp.restore();
    }
  });

  // (image made how, error code, message): each refused before anything is written, in each container.
  it.each([
    ['no partition table (first sector zeroed)', 'E_IMAGE_NO_TABLE', /no MBR or GPT partition table: not a card image; nothing was written/],
    ['a truncated copy (its table reaches past its end)', 'E_IMAGE_TRUNCATED', /partition table reaches byte 167772160 but the image holds 41943040 bytes .*truncated copy/],
  ])('refuses %s, compressed or not', async (what, code, message) => {
    const d = dir();
    const img = makeImage(d, { dataMiB: 2 });
    const bad = join(d, 'bad.img');
    const bytes = readFileSync(img);
    if (code === 'E_IMAGE_NO_TABLE') {
      bytes.fill(0, 0, 512);
      writeFileSync(bad, bytes);
    } else writeFileSync(bad, bytes.subarray(0, 40 * MIB));
    execFileSync('xz', ['-T2', '-1', '-k', '-q', bad]);
    execFileSync('zstd', ['-q', '-1', '-k', bad, '-o', `${bad}.zst`]);
    const tmp = privateTmp(d);
    try {
      for (const file of [bad, `${bad}.xz`, `${bad}.zst`]) {
        const e = await inspectImage(file).then(
          () => null,
          (x: { code?: string; message: string }) => x,
        );
        expect(e?.code, `${what}: ${file}`).toBe(code);
        expect(e?.message, file).toMatch(message);
      }
      expect(tmp.left()).toEqual([]);
    } finally {
      tmp.restore();
    }
  });
});
