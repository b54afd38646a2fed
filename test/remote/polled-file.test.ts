import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ImageCache } from '../../src/burner/source/cache.js';
import { receiveBlob } from '../../src/remote/agent-receive.js';
import { PolledFile } from '../../src/remote/polled-file.js';
import { MIB, tempDirs } from '../burner/fixtures.js';

const dir = tempDirs('metis-polled-');
const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Whether `p` settles (either way) within `ms`. */
const settlesWithin = (p: Promise<unknown>, ms: number) => Promise.race([p.then(() => true, () => true), sleep(ms).then(() => false)]);
const readAll = async (f: PolledFile) => {
  const got: Buffer[] = [];
  for await (const b of f.stream() as AsyncIterable<Buffer>) got.push(b);
  return Buffer.concat(got);
};

/** The real writer: a `burn-agent receive` into `cache`, fed by hand; resolves its temp file's name once it exists. */
function startReceive(cache: ImageCache, sha256: string) {
  const input = new PassThrough();
  let named: (p: string) => void = () => {};
  const tmp = new Promise<string>((r) => (named = r));
  const stored = receiveBlob(cache, sha256, input, false, new AbortController().signal, (p) => named(p));
  stored.catch(() => {});
  return { input, tmp, stored };
}

describe('PolledFile: a file another process writes, followed by polling', () => {
  it('grows, waits, completes once the receive renamed it into the cache, and still reads through /proc/self/fd after the rename', async () => {
    const cache = new ImageCache(dir());
    const data = randomBytes(9 * MIB);
    // An all-zero run: the receive leaves it a hole, which must read back as zeros.
    data.fill(0, 2 * MIB, 3 * MIB);
    const sha = hex(data);
    const rx = startReceive(cache, sha);
    const tmp = await rx.tmp;
    expect(cache.isTempPath(tmp)).toBe(true);
    const f = await PolledFile.open(tmp, { size: data.length, committedAt: cache.blobPath(sha), signal: new AbortController().signal, pollMs: 10 });
    try {
      expect(f.path).toMatch(/^\/proc\/self\/fd\/\d+$/);
      const reading = readAll(f);
      // Nothing written yet: a wait waits.
      expect(await settlesWithin(f.until(1), 150)).toBe(false);
      rx.input.write(data.subarray(0, 5 * MIB));
      await f.until(5 * MIB);
      expect(f.bytes).toBe(5 * MIB);
      expect(await settlesWithin(f.complete, 150)).toBe(false);
      rx.input.end(data.subarray(5 * MIB));
      await rx.stored;
      await f.complete;
      expect((await reading).equals(data)).toBe(true);
      // Renamed while open: the temp name is gone, the descriptor's name reads the stored blob.
      expect(existsSync(tmp)).toBe(false);
      expect(hex(readFileSync(f.path))).toBe(sha);
      expect(hex(readFileSync(cache.blobPath(sha)))).toBe(sha);
    } finally {
      await f.close();
    }
  });

  it('a file written and renamed by another process (a shell) is followed to its end', async () => {
    const cache = new ImageCache(dir());
    mkdirSync(join(cache.dir, 'tmp'), { recursive: true });
    mkdirSync(join(cache.dir, 'blobs/sha256'), { recursive: true });
    const tmp = join(cache.dir, 'tmp', '1-0123456789ab');
    const seed = join(cache.dir, 'seed');
    writeFileSync(seed, randomBytes(3 * MIB));
    const sha = hex(readFileSync(seed));
    writeFileSync(tmp, '');
    const f = await PolledFile.open(tmp, { size: 3 * MIB, committedAt: cache.blobPath(sha), signal: new AbortController().signal, pollMs: 10 });
    try {
      const reading = readAll(f);
      // One MiB at a time with pauses, in offset order, then the rename: what the receive does.
      const script = 'for i in 0 1 2; do dd if="$1" of="$2" bs=1M skip=$i seek=$i count=1 conv=notrunc status=none; sleep 0.1; done; mv "$2" "$3"';
      const writer = spawn('sh', ['-c', script, 'writer', seed, tmp, cache.blobPath(sha)], { stdio: 'ignore' });
      const code = await new Promise<number | null>((r) => writer.on('close', r));
      expect(code).toBe(0);
      await f.complete;
      expect((await reading).equals(readFileSync(seed))).toBe(true);
    } finally {
      await f.close();
    }
  });

  it('whole only when its own inode is the committed blob: full size is not enough, nor another file under the blob name', async () => {
    const cache = new ImageCache(dir());
    mkdirSync(join(cache.dir, 'tmp'), { recursive: true });
    mkdirSync(join(cache.dir, 'blobs/sha256'), { recursive: true });
    const data = randomBytes(MIB);
    const sha = hex(data);
    const tmp = join(cache.dir, 'tmp', '2-0123456789ab');
    writeFileSync(tmp, data);
    copyFileSync(tmp, cache.blobPath(sha));
    const f = await PolledFile.open(tmp, { size: data.length, committedAt: cache.blobPath(sha), signal: new AbortController().signal, pollMs: 10 });
    try {
      await f.until(data.length);
      expect(await settlesWithin(f.complete, 200)).toBe(false);
      renameSync(tmp, cache.blobPath(sha));
      await f.complete;
    } finally {
      await f.close();
    }
  });

  it('never reads past the size it was told (a longer file fails its digest at the receive)', async () => {
    const cache = new ImageCache(dir());
    mkdirSync(join(cache.dir, 'tmp'), { recursive: true });
    const tmp = join(cache.dir, 'tmp', '3-0123456789ab');
    writeFileSync(tmp, randomBytes(2 * MIB + 77));
    const ac = new AbortController();
    const f = await PolledFile.open(tmp, { size: 2 * MIB, committedAt: cache.blobPath('f'.repeat(64)), signal: ac.signal, pollMs: 10 });
    try {
      const got: Buffer[] = [];
      for await (const b of f.stream() as AsyncIterable<Buffer>) {
        got.push(b);
        if (Buffer.concat(got).length === 2 * MIB) ac.abort();
      }
      expect(Buffer.concat(got).equals(readFileSync(tmp).subarray(0, 2 * MIB))).toBe(true);
    } finally {
      await f.close();
    }
  });

  it('a failed receive (its digest refused) removes the file: lost — onLost first, then every wait ends and complete rejects', async () => {
    const cache = new ImageCache(dir());
    const data = randomBytes(6 * MIB);
    const rx = startReceive(cache, 'e'.repeat(64));
    const tmp = await rx.tmp;
    const order: string[] = [];
    const ac = new AbortController();
    const f = await PolledFile.open(tmp, { size: data.length + MIB, committedAt: cache.blobPath('e'.repeat(64)), signal: ac.signal, pollMs: 10, onLost: () => order.push('lost') });
    try {
      const reading = readAll(f);
      const waiting = f.until(data.length + MIB).then(() => order.push('until'));
      rx.input.end(data);
      await expect(rx.stored).rejects.toThrow(/sha256 mismatch/);
      await expect(f.complete).rejects.toMatchObject({ code: 'E_IMAGE_MISSING' });
      await waiting;
      expect((await reading).length).toBeLessThanOrEqual(data.length);
      expect(order).toEqual(['lost', 'until']);
      expect(f.lost).toMatchObject({ code: 'E_IMAGE_MISSING' });
      expect(f.failed).toBe(f.lost);
      expect(existsSync(tmp)).toBe(false);
    } finally {
      await f.close();
    }
  });

  it('the burn\'s abort ends every wait at once: until returns, the stream ends, complete rejects E_ABORTED', async () => {
    const cache = new ImageCache(dir());
    mkdirSync(join(cache.dir, 'tmp'), { recursive: true });
    const tmp = join(cache.dir, 'tmp', '4-0123456789ab');
    writeFileSync(tmp, 'abc');
    const ac = new AbortController();
    const f = await PolledFile.open(tmp, { size: 100, committedAt: cache.blobPath('a'.repeat(64)), signal: ac.signal, pollMs: 1000 });
    try {
      const reading = readAll(f);
      const waiting = f.until(50);
      await sleep(50);
      ac.abort();
      expect(await settlesWithin(waiting, 200)).toBe(true);
      expect((await reading).length).toBeLessThanOrEqual(3);
      await expect(f.complete).rejects.toMatchObject({ code: 'E_ABORTED' });
      expect(f.failed).toMatchObject({ code: 'E_ABORTED' });
      expect(f.lost).toBeNull();
    } finally {
      await f.close();
    }
    const gone = new AbortController();
    gone.abort();
    const g = await PolledFile.open(tmp, { size: 100, committedAt: cache.blobPath('a'.repeat(64)), signal: gone.signal });
    await expect(g.complete).rejects.toMatchObject({ code: 'E_ABORTED' });
    await g.close();
  });

  it('opens only a regular file by its own name: a symlink, a FIFO (without hanging) and a missing name are refused', async () => {
    const d = dir();
    const signal = new AbortController().signal;
    const o = { size: 10, committedAt: join(d, 'blob'), signal };
    writeFileSync(join(d, 'real'), 'x');
    symlinkSync(join(d, 'real'), join(d, 'link'));
    await expect(PolledFile.open(join(d, 'link'), o)).rejects.toMatchObject({ code: 'ELOOP' });
    const fifo = spawn('mkfifo', [join(d, 'fifo')]);
    await new Promise((r) => fifo.on('close', r));
    await expect(PolledFile.open(join(d, 'fifo'), o)).rejects.toThrow(/not a regular file/);
    await expect(PolledFile.open(join(d, 'missing'), o)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
