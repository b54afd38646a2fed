import { createHash } from 'node:crypto';
import { open, rm, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ImageCache } from '../burner/source/cache.js';

const BLOCK = 64 * 1024;
const ZERO = Buffer.alloc(BLOCK);

/** `have`: whether the blob is in the host's cache (stat only; `burn` re-hashes before use). */
export async function haveBlob(cache: ImageCache, sha256: string): Promise<boolean> {
  return Boolean(await stat(cache.blobPath(sha256)).catch(() => null));
}

/**
 * `receive`: stdin (gzip-compressed when `gunzip`) becomes the blob, hashed on the way in and
 * committed by rename only when the digest matches; all-zero blocks stay holes, so a raw image
 * sent compressed takes only its allocated size on the host. The temp file is written in
 * increasing offset order and only grows, so a burn agent can follow it (`onStart` names it;
 * src/remote/polled-file.ts): every byte below its size is final.
 */
export async function receiveBlob(cache: ImageCache, sha256: string, input: Readable, gunzip: boolean, signal: AbortSignal, onStart?: (tmp: string) => void): Promise<number> {
  const tmp = await cache.tempPath();
  const fh = await open(tmp, 'w', 0o644);
  const hash = createHash('sha256');
  let pos = 0;
  let parts: Buffer[] = [];
  let held = 0;
  const flush = async (b: Buffer) => {
    // Runs of non-zero blocks go down in one write each; zero blocks are skipped (holes).
    let run = -1;
    for (let off = 0; off < b.length; off += BLOCK) {
      const end = Math.min(off + BLOCK, b.length);
      const zero = end - off === BLOCK && b.subarray(off, end).equals(ZERO);
      if (!zero && run < 0) run = off;
      if (zero && run >= 0) {
        await fh.write(b, run, off - run, pos + run);
        run = -1;
      }
    }
    if (run >= 0) await fh.write(b, run, b.length - run, pos + run);
    pos += b.length;
  };
  try {
    onStart?.(tmp);
    const src = gunzip ? input.pipe(createGunzip()) : input;
    for await (const piece of src as AsyncIterable<Buffer>) {
      if (signal.aborted) throw new Error('aborted');
      hash.update(piece);
      parts.push(piece);
      held += piece.length;
      if (held >= 4 * 1024 * 1024) {
        const all = Buffer.concat(parts);
        const whole = all.length - (all.length % BLOCK);
        await flush(all.subarray(0, whole));
        parts = [all.subarray(whole)];
        held = all.length - whole;
      }
    }
    const pending = Buffer.concat(parts);
    await flush(pending);
    await fh.truncate(pos);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  await cache.commit(tmp, hash.digest('hex'), sha256, `image received on this host`);
  return pos;
}
