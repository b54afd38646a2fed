import { readFile, stat } from 'node:fs/promises';
import { DIGEST_INPUT, normalizeDigest } from '../../core/digest.js';

/**
 * `metis image build` writes IMAGE.sha256 and IMAGE.bmap beside a local image: a local --image
 * is then still verified against its recorded digest and written sparsely from its block map.
 */
export async function localSidecars(image: string): Promise<{ sha256?: string; bmap?: string }> {
  if (/^(https?|oci):\/\//.test(image)) return {};
  const out: { sha256?: string; bmap?: string } = {};
  const shaText = await readFile(`${image}.sha256`, 'utf8').catch(() => null);
  const hex = shaText?.trim().split(/\s+/)[0];
  if (hex && DIGEST_INPUT.test(hex)) out.sha256 = normalizeDigest(hex);
  const bmap = `${image.replace(/\.(xz|gz|zst)$/, '')}.bmap`;
  if ((await stat(bmap).catch(() => null))?.isFile()) out.bmap = bmap;
  return out;
}
