import { open, readFile } from 'node:fs/promises';
import { MetisError } from '../../lib/errors.js';
import { probeFilesystem, readPartitionTable } from '../partition-table.js';
import { ChunkMap } from './chunk-map.js';
import { markExt } from './ext4.js';
import { markFat } from './fat.js';

export interface Allocation {
  map: ChunkMap;
  /** How each region was judged, for the report: "p1 fat32", "p2 ext", "p3 unknown (whole)". */
  notes: string[];
}

/**
 * What of a raw image must be written: the partition table area, the allocated parts of every
 * FAT and ext filesystem, and all of anything the burner does not understand (other
 * partitions, space between and after partitions).
 */
export async function allocationOf(image: string, size: number): Promise<Allocation> {
  const map = new ChunkMap(size);
  const notes: string[] = [];
  let table;
  try {
    table = await readPartitionTable(image);
  } catch {
    map.mark(0, size);
    return { map, notes: ['no partition table: whole image'] };
  }
  const parts = [...table.partitions].sort((a, b) => a.offset - b.offset);
  const fh = await open(image, 'r');
  try {
    let cursor = 0;
    for (const p of parts) {
      if (p.offset > cursor) map.mark(cursor, p.offset - cursor);
      const kind = await probeFilesystem(image, p.offset);
      if (kind === 'fat12' || kind === 'fat16' || kind === 'fat32') await markFat(fh, p.offset, p.size, map);
      else if (kind === 'ext') await markExt(fh, p.offset, map);
      else map.mark(p.offset, p.size);
      notes.push(`p${p.index} ${kind}${kind === 'unknown' ? ' (whole partition)' : ''}`);
      cursor = Math.max(cursor, p.offset + p.size);
    }
    if (cursor < size) map.mark(cursor, size - cursor);
    // GPT keeps a backup header in the last sectors: always written.
    if (table.kind === 'gpt') map.mark(Math.max(0, size - 33 * 512), 33 * 512);
  } finally {
    await fh.close();
  }
  return { map, notes: [`${table.kind}`, ...notes] };
}

/** A bmaptool block map (XML): BlockSize and <Range>first-last</Range> lines. */
/** `size` undefined (a gzip stream of unknown length): the bmap's own ImageSize is the size. */
export async function allocationFromBmap(bmapPath: string, size: number | undefined): Promise<Allocation> {
  const xml = await readFile(bmapPath, 'utf8');
  const bs = Number(/<BlockSize>\s*(\d+)\s*<\/BlockSize>/.exec(xml)?.[1]);
  const imageSize = Number(/<ImageSize>\s*(\d+)\s*<\/ImageSize>/.exec(xml)?.[1]);
  if (!bs) throw new MetisError('E_BMAP', `${bmapPath}: no <BlockSize>`, { file: bmapPath, path: 'BlockSize' });
  if (size === undefined) {
    if (!imageSize) throw new MetisError('E_BMAP', `${bmapPath}: no <ImageSize>, and the compressed image does not record its size`, { file: bmapPath, path: 'ImageSize' });
    size = imageSize;
  }
  if (imageSize && imageSize !== size) {
    throw new MetisError('E_BMAP', `${bmapPath}: ImageSize ${imageSize} does not match the image (${size} bytes)`, { file: bmapPath, path: 'ImageSize' });
  }
  const map = new ChunkMap(size);
  let n = 0;
  for (const m of xml.matchAll(/<Range[^>]*>\s*(\d+)(?:\s*-\s*(\d+))?\s*<\/Range>/g)) {
    const first = Number(m[1]);
    const last = m[2] ? Number(m[2]) : first;
    map.mark(first * bs, (last - first + 1) * bs);
    n++;
  }
  return { map, notes: [`bmap ${n} ranges`] };
}
