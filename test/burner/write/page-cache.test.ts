import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, fstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { burn } from '../../../src/burner/write/burn.js';
import { cacheEvictor } from '../../../src/burner/write/page-cache.js';
import { isRoot, makeImage, MIB, tempDir } from '../fixtures.js';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
function dir(): string {
  const t = tempDir('metis-pagecache-');
  cleanups.push(t.cleanup);
  return t.dir;
}
function attachLoop(backing: string): string {
  const loop = execFileSync('losetup', ['-f', '--show', backing], { encoding: 'utf8' }).trim();
  cleanups.push(() => {
    execFileSync('losetup', ['-d', loop]);
  });
  return loop;
}

/**
 * The judge: how many of the first `bytes` of `dev` are in the page cache, as the kernel's
 * mincore(2) says on a shared read-only mapping of the device (python3's ctypes; it faults nothing in).
 */
function residentPages(dev: string, bytes: number): number {
  const py = [
    'import ctypes, os, sys',
    'libc = ctypes.CDLL(None, use_errno=True)',
    'libc.mmap.restype = ctypes.c_void_p',
    'libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]',
    'libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]',
    'n = int(sys.argv[2]); fd = os.open(sys.argv[1], os.O_RDONLY)',
    'addr = libc.mmap(None, n, 1, 1, fd, 0)',
    'assert addr not in (None, ctypes.c_void_p(-1).value), os.strerror(ctypes.get_errno())',
    'vec = ctypes.create_string_buffer(n // 4096)',
    'assert libc.mincore(addr, n, vec) == 0, os.strerror(ctypes.get_errno())',
    'print(sum(b & 1 for b in vec.raw))',
  ].join('\n');
  return Number(execFileSync('python3', ['-c', py, dev, String(bytes)], { encoding: 'utf8' }).trim());
}

/** A card (loop device) held open as a burn holds it, with `mib` MiB written at 1 MiB and on the card. */
async function writtenCard(mib: number): Promise<{ dev: string; fh: FileHandle }> {
  const d = dir();
  const backing = join(d, 'card.bin');
  execFileSync('truncate', ['-s', `${mib + 8}M`, backing]);
  const dev = attachLoop(backing);
  const fh = await open(dev, constants.O_RDWR | constants.O_EXCL);
  cleanups.push(() => fh.close());
  const block = Buffer.alloc(4 * MIB, 0x5a);
  for (let at = 0; at < mib * MIB; at += block.length) await fh.write(block, 0, block.length, MIB + at);
  await fh.datasync();
  return { dev, fh };
}

/** A `dd` on PATH that logs its arguments and what its stdin is, then runs the real one (or `then`). */
function ddWrapper(then?: string): { bin: string; log: string } {
  const d = dir();
  const bin = join(d, 'bin');
  mkdirSync(bin);
  const log = join(d, 'dd.log');
  const real = execFileSync('sh', ['-c', 'command -v dd'], { encoding: 'utf8' }).trim();
  const script = [
    '#!/bin/sh',
    `echo "$$ $(readlink /proc/self/fd/0) $*" >> ${log}`,
    then ?? `exec ${real} "$@"`,
  ].join('\n');
  writeFileSync(join(bin, 'dd'), `${script}\n`);
  chmodSync(join(bin, 'dd'), 0o755);
  return { bin, log };
}
const calls = (log: string): string[][] => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split(' ')) : []);

/** An image with `dataMiB` of data, a loop device to burn it to, and a logging dd first on PATH (restored after). */
function burnSetup(sizeMiB: number, dataMiB: number): { d: string; img: string; dev: string; log: string } {
  const d = dir();
  const img = makeImage(d, { sizeMiB, dataMiB });
  const backing = join(d, 'card.bin');
  execFileSync('truncate', ['-s', `${sizeMiB + 4}M`, backing]);
  const dev = attachLoop(backing);
  const { bin, log } = ddWrapper();
  const saved = process.env.PATH;
  process.env.PATH = `${bin}:${saved}`;
  cleanups.push(() => {
    process.env.PATH = saved;
  });
  return { d, img, dev, log };
}

describe('cacheEvictor: advice that cannot be given fails nothing', () => {
  it('a descriptor dd cannot be handed (spawn throws EBADF at once): settled() does not throw, idle() resolves, no retry', async () => {
    const fd = 987;
    expect(() => fstatSync(fd)).toThrow(/EBADF/); // not open in this process
    const { bin, log } = ddWrapper();
    const ev = cacheEvictor(fd, { every: 1, path: `${bin}:${process.env.PATH}` });
    expect(() => ev.settled(MIB)).not.toThrow();
    await ev.idle();
    ev.settled(MIB);
    await ev.idle();
    expect(calls(log)).toHaveLength(0);
  });

  it('a dd that cannot be started (not executable: EACCES) is not tried again in that burn, even once it could be', async () => {
    const d = dir();
    const fh = await open(join(d, 'f'), 'w+');
    cleanups.push(() => fh.close());
    const { bin, log } = ddWrapper();
    chmodSync(join(bin, 'dd'), 0o644);
    const ev = cacheEvictor(fh.fd, { every: 1, path: bin });
    ev.settled(MIB);
    await ev.idle();
    chmodSync(join(bin, 'dd'), 0o755);
    ev.settled(MIB);
    await ev.idle();
    expect(calls(log)).toHaveLength(0);
  });
});

describe.skipIf(!isRoot)('cacheEvictor on a loop device (needs root)', () => {
  it('drops the written pages of the card from the page cache; the card keeps its bytes', async () => {
    const { dev, fh } = await writtenCard(64);
    const pages = (64 * MIB) / 4096;
    // check: the written range sits in the page cache after its flush
    expect(residentPages(dev, 65 * MIB)).toBeGreaterThanOrEqual(pages * 0.9);
    const ev = cacheEvictor(fh.fd, { every: 32 * MIB });
    ev.settled(64 * MIB);
    await ev.idle();
    // change applied: gone from the cache, the descriptor still open
    expect(residentPages(dev, 65 * MIB)).toBeLessThan(pages * 0.05);
    // and the bytes are on the card
    const back = Buffer.alloc(MIB);
    await fh.read(back, 0, MIB, 40 * MIB);
    expect(back.equals(Buffer.alloc(MIB, 0x5a))).toBe(true);
  });

  it('starts dd once `every` bytes settled and none runs, on the card\'s own descriptor; counts again from there', async () => {
    const { dev, fh } = await writtenCard(8);
    const { bin, log } = ddWrapper();
    const ev = cacheEvictor(fh.fd, { every: 4 * MIB, path: `${bin}:${process.env.PATH}` });
    ev.settled(3 * MIB);
    await ev.idle();
    expect(calls(log)).toHaveLength(0); // under `every`
    ev.settled(MIB);
    await ev.idle();
    const [first] = calls(log);
    expect(calls(log)).toHaveLength(1);
    // the card's own descriptor as stdin: no second open of the device, nothing read or written
    expect(first!.slice(1)).toEqual([dev, 'iflag=nocache', 'count=0', 'status=none']);
    ev.settled(3 * MIB);
    await ev.idle();
    expect(calls(log)).toHaveLength(1); // 3 MiB since the last drop
    ev.settled(MIB);
    await ev.idle();
    expect(calls(log)).toHaveLength(2);
  });

  it('without dd on PATH the advice is not taken and nothing fails: the pages stay', async () => {
    const { dev, fh } = await writtenCard(16);
    const empty = dir();
    const ev = cacheEvictor(fh.fd, { every: MIB, path: empty });
    ev.settled(16 * MIB);
    await ev.idle();
    ev.settled(16 * MIB);
    await ev.idle();
    // the pages stay, as they did before this change: the close drops them
    expect(residentPages(dev, 17 * MIB)).toBeGreaterThanOrEqual(((16 * MIB) / 4096) * 0.9);
  });

  it('a dd that hangs is killed after the bound: idle() returns and no process is left', async () => {
    const { fh } = await writtenCard(4);
    const { bin, log } = ddWrapper('exec sleep 30');
    const ev = cacheEvictor(fh.fd, { every: MIB, boundMs: 300, path: `${bin}:${process.env.PATH}` });
    ev.settled(4 * MIB);
    await ev.idle();
    const [call] = calls(log);
    expect(call).toBeDefined();
    expect(existsSync(`/proc/${call![0]}`)).toBe(false);
  });

  it('a burn asks dd to drop the card\'s pages during its bulk (every 256 MiB that reached it), none in its last 64 MiB', async () => {
    // 340 MiB of data: one drop after the first 256 MiB settled, with more than 64 MiB still to write.
    const { d, img, dev, log } = burnSetup(480, 340);
    const r = await burn({ image: img, target: dev, verify: false });
    expect(r.bytesWritten).toBeGreaterThan(340 * MIB);
    const seen = calls(log);
    expect(seen).toHaveLength(1);
    for (const c of seen) expect(c.slice(1)).toEqual([dev, 'iflag=nocache', 'count=0', 'status=none']);
    // every dd has exited before burn() returned
    for (const c of seen) expect(existsSync(`/proc/${c[0]}`)).toBe(false);
    // an image-file target is left to the file system: no dd
    await burn({ image: img, target: join(d, 'out.img'), verify: false });
    expect(calls(log)).toHaveLength(1);
  });

  it('no drop in a burn\'s last 64 MiB: one of ~290 MiB (256 MiB reach the card only within its last 64) drops nothing', async () => {
    // Its end is not slowed for a drop (docs/writing.md). Without the guard this burn drops once.
    const { img, dev, log } = burnSetup(400, 280);
    const r = await burn({ image: img, target: dev, verify: true });
    expect(r.verified).toBe(true);
    expect(r.bytesWritten).toBeGreaterThan(256 * MIB);
    expect(r.bytesWritten).toBeLessThan(320 * MIB);
    expect(calls(log)).toHaveLength(0);
  });
});
