import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { ChunkMap } from './chunk-map.js';

const BS = 4096;

/**
 * A block map in bmaptool's format 2.0 for a raw image: the chunks `map` marks, as 4 KiB-block
 * ranges with their sha256, and the file's own checksum (sha256 of the text with that field
 * zeroed), so `bmaptool copy` accepts it and checks the bytes as it writes them.
 */
export async function bmapXml(image: string, map: ChunkMap): Promise<string> {
  const blocks = Math.ceil(map.size / BS);
  const ranges: Array<{ first: number; last: number; sha: string }> = [];
  const fh = await open(image, 'r');
  try {
    for (const [off, len] of mergeRuns(map.runs())) {
      const first = Math.floor(off / BS);
      const last = Math.min(blocks, Math.ceil((off + len) / BS)) - 1;
      const h = createHash('sha256');
      const buf = Buffer.allocUnsafe(4 << 20);
      for (let p = first * BS, end = Math.min((last + 1) * BS, map.size); p < end; ) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - p), p);
        if (bytesRead === 0) break;
        h.update(buf.subarray(0, bytesRead));
        p += bytesRead;
      }
      ranges.push({ first, last, sha: h.digest('hex') });
    }
  } finally {
    await fh.close();
  }
  const mapped = ranges.reduce((a, r) => a + r.last - r.first + 1, 0);
  const zero = '0'.repeat(64);
  const text = (sum: string) =>
    [
      '<?xml version="1.0" ?>',
      '<bmap version="2.0">',
      `    <ImageSize> ${map.size} </ImageSize>`,
      `    <BlockSize> ${BS} </BlockSize>`,
      `    <BlocksCount> ${blocks} </BlocksCount>`,
      `    <MappedBlocksCount> ${mapped} </MappedBlocksCount>`,
      '    <ChecksumType> sha256 </ChecksumType>',
      `    <BmapFileChecksum> ${sum} </BmapFileChecksum>`,
      '    <BlockMap>',
      ...ranges.map((r) => `        <Range chksum="${r.sha}"> ${r.first === r.last ? r.first : `${r.first}-${r.last}`} </Range>`),
      '    </BlockMap>',
      '</bmap>',
      '',
    ].join('\n');
  return text(createHash('sha256').update(text(zero)).digest('hex'));
}

/** ChunkMap runs are capped at 4 MiB for I/O; a block map lists whole contiguous ranges. */
function mergeRuns(runs: Array<[number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [o, l] of runs) {
    const last = out.at(-1);
    if (last && last[0] + last[1] === o) last[1] += l;
    else out.push([o, l]);
  }
  return out;
}
