import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { BlockIo } from '../../../src/burner/fat/volume.js';

/** A bare FAT filesystem (no partition table) in a file, read into memory. */
export function fatImage(dir: string, kind: 'fat16' | 'fat32'): Buffer {
  const file = join(dir, `${kind}.template`);
  // FAT32 needs 65525 clusters: 34 MiB of 512-byte clusters; FAT16 with 512-byte clusters in 8 MiB.
  const [bits, kib] = kind === 'fat32' ? ['32', '34000'] : ['16', '8192'];
  execFileSync('mkfs.vfat', ['-F', bits, '-s', '1', '-C', file, kib], { stdio: 'ignore' });
  return readFileSync(file);
}

/**
 * The device: an image kept read-only, with every write going to an overlay of 512-byte sectors
 * (cheap to make one per fault). Counts writes; write `faultAt` throws (an I/O error, or the power
 * cut: what is on the device is then the same — every earlier write, none after). `lose` drops
 * writes to a byte range silently (a lost write to one FAT copy).
 */
export class FaultyIo implements BlockIo {
  writes = 0;
  readonly overlay = new Map<number, Buffer>();
  constructor(
    readonly base: Buffer,
    private readonly opts: { faultAt?: number; lose?: (pos: number, len: number) => boolean } = {},
  ) {}
  /** Another device starting from this one's current bytes. */
  fork(opts: FaultyIo['opts'] = {}): FaultyIo {
    const io = new FaultyIo(this.base, opts);
    for (const [s, b] of this.overlay) io.overlay.set(s, Buffer.from(b));
    return io;
  }
  async read(b: Buffer, offset: number, length: number, position: number): Promise<void> {
    for (let done = 0; done < length; ) {
      const pos = position + done;
      const s = Math.floor(pos / 512);
      const n = Math.min(length - done, (s + 1) * 512 - pos);
      const src = this.overlay.get(s) ?? this.base.subarray(s * 512, (s + 1) * 512);
      src.copy(b, offset + done, pos - s * 512, pos - s * 512 + n);
      done += n;
    }
  }
  async write(b: Buffer, offset: number, length: number, position: number): Promise<void> {
    this.writes++;
    if (this.opts.lose?.(position, length)) return;
    if (this.writes >= (this.opts.faultAt ?? Infinity)) throw Object.assign(new Error(`injected fault at write ${this.writes}`), { code: 'EIO' });
    for (let done = 0; done < length; ) {
      const pos = position + done;
      const s = Math.floor(pos / 512);
      const n = Math.min(length - done, (s + 1) * 512 - pos);
      let sec = this.overlay.get(s);
      if (!sec) this.overlay.set(s, (sec = Buffer.from(this.base.subarray(s * 512, (s + 1) * 512))));
      b.copy(sec, pos - s * 512, offset + done, offset + done + n);
      done += n;
    }
  }
}

const mtools = { ...process.env, MTOOLS_SKIP_CHECK: '1' };

/**
 * The judges, fsck.fat -n and mtype, on a file: the image written once, each device's overlay
 * applied for the judgement and taken back after it.
 */
export function judges(dir: string, base: Buffer): (io: FaultyIo, paths: string[]) => { fsckStatus: number | null; fsck: string; content: Array<Buffer | null> } {
  const file = join(dir, 'judged.img');
  writeFileSync(file, base);
  return (io, paths) => {
    const fd = openSync(file, 'r+');
    try {
      for (const [s, b] of io.overlay) writeSync(fd, b, 0, 512, s * 512);
      const f = spawnSync('fsck.fat', ['-n', file], { encoding: 'utf8' });
      const content = paths.map((p) => {
        const m = spawnSync('mtype', ['-i', file, `::${p}`], { env: mtools });
        return m.status === 0 ? m.stdout : null;
      });
      return { fsckStatus: f.status, fsck: f.stdout + f.stderr, content };
    } finally {
      for (const s of io.overlay.keys()) writeSync(fd, base, s * 512, 512, s * 512);
      closeSync(fd);
    }
  };
}

/**
 * What fsck.fat may say about a volume whose write was cut short: leaked clusters, a stale free
 * count, FAT copies that differ while the first is intact. Nothing about files, chains or names.
 */
export function onlyLeaks(report: string): string[] {
  const allowed = [
    /^fsck\.fat \d/,
    /^Checking we can access the last sector/,
    /^Reclaimed \d+ unused clusters? \(\d+ bytes\)/,
    /^Free cluster summary wrong \(\d+ vs\. really \d+\)/,
    /^\s*Auto-correcting\.?$/,
    /^FATs differ but appear to be intact\.$/,
    /^\s*Using first FAT\.$/,
    /^Leaving filesystem unchanged\.$/,
    /^\S+: \d+ files, \d+\/\d+ clusters$/,
    /^\s*$/,
  ];
  return report.split('\n').filter((l) => !allowed.some((a) => a.test(l)));
}

/** "N files, U/T clusters" → U. */
export function usedClusters(report: string): number {
  const m = /(\d+) files, (\d+)\/(\d+) clusters/.exec(report);
  if (!m) throw new Error(`no summary in fsck output:\n${report}`);
  return Number(m[2]);
}
