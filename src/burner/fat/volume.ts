import type { FileHandle } from 'node:fs/promises';
import { MetisError } from '../../lib/errors.js';
import { parseBpb } from '../../core/fat-bpb.js';

const ATTR_DIR = 0x10;
const ATTR_ARCHIVE = 0x20;
const ATTR_LFN = 0x0f;
const ENTRY = 32;

export interface DirEntry {
  name: string;
  shortName: Buffer;
  attr: number;
  cluster: number;
  size: number;
  /** Byte offsets (in the partition) of this entry's LFN slots and, last, its short slot. */
  slots: number[];
}

/** Where a directory lives: FAT12/16's fixed root region, or a cluster chain. */
type DirRef = { kind: 'root16' } | { kind: 'chain'; cluster: number };

function lfnChecksum(short: Buffer): number {
  let sum = 0;
  for (let i = 0; i < 11; i++) sum = (((sum & 1) << 7) + (sum >> 1) + short[i]!) & 0xff;
  return sum;
}

function dosDateTime(d: Date): { date: number; time: number } {
  return {
    date: ((d.getFullYear() - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | Math.floor(d.getSeconds() / 2),
  };
}

/**
 * A FAT16/FAT32 volume inside an image or block device, edited in place: directory entries with
 * long names, cluster chains, every FAT copy and the FAT32 FSInfo kept consistent, so `fsck.fat -n`
 * finds nothing to fix. Only what the burner needs: mkdir -p, write (create/replace), read.
 */
export class FatVolume {
  private constructor(
    private readonly fh: FileHandle,
    private readonly base: number,
    private readonly bps: number,
    private readonly spc: number,
    private readonly reserved: number,
    private readonly numFats: number,
    private readonly fatSectors: number,
    private readonly rootEntries: number,
    private readonly clusters: number,
    private readonly fat32: boolean,
    private readonly rootCluster: number,
    private readonly fsInfoSector: number,
    private readonly fat: Buffer,
  ) {}

  static async open(fh: FileHandle, offset: number): Promise<FatVolume> {
    const b = Buffer.alloc(512);
    await fh.read(b, 0, 512, offset);
    const { bytesPerSector: bps, sectorsPerCluster: spc, reserved, numFats, rootEntries, fatSectors, clusters, fat32, rootCluster, fsInfoSector, plausible } = parseBpb(b);
    if (!plausible) throw new MetisError('E_NOT_FAT', `no FAT filesystem at byte ${offset}`);
    if (clusters < 4085) throw new MetisError('E_FAT12', 'FAT12 volumes are not supported (a boot partition is FAT16 or FAT32)');
    const fat = Buffer.alloc(fatSectors * bps);
    await fh.read(fat, 0, fat.length, offset + reserved * bps);
    return new FatVolume(fh, offset, bps, spc, reserved, numFats, fatSectors, rootEntries, clusters, fat32, rootCluster, fsInfoSector, fat);
  }

  private get clusterBytes(): number {
    return this.bps * this.spc;
  }
  private get rootDirOffset(): number {
    return this.base + (this.reserved + this.numFats * this.fatSectors) * this.bps;
  }
  private clusterOffset(c: number): number {
    return this.rootDirOffset + Math.ceil((this.rootEntries * ENTRY) / this.bps) * this.bps + (c - 2) * this.clusterBytes;
  }
  private get eoc(): number {
    return this.fat32 ? 0x0fffffff : 0xffff;
  }
  private entry(c: number): number {
    return this.fat32 ? this.fat.readUInt32LE(c * 4) & 0x0fffffff : this.fat.readUInt16LE(c * 2);
  }
  private setEntry(c: number, v: number): void {
    if (this.fat32) this.fat.writeUInt32LE(((this.fat.readUInt32LE(c * 4) & 0xf0000000) | v) >>> 0, c * 4);
    else this.fat.writeUInt16LE(v, c * 2);
  }
  private isEnd(v: number): boolean {
    return this.fat32 ? v >= 0x0ffffff8 : v >= 0xfff8;
  }

  private chain(start: number): number[] {
    const out: number[] = [];
    for (let c = start; c >= 2 && !this.isEnd(c) && out.length <= this.clusters; c = this.entry(c)) out.push(c);
    return out;
  }

  private allocate(n: number): number[] {
    const got: number[] = [];
    for (let c = 2; c < this.clusters + 2 && got.length < n; c++) if (this.entry(c) === 0) got.push(c);
    if (got.length < n) throw new MetisError('E_FAT_FULL', `boot partition is full (${n} clusters needed)`);
    got.forEach((c, i) => this.setEntry(c, got[i + 1] ?? this.eoc));
    return got;
  }

  private async free(start: number): Promise<void> {
    const zero = Buffer.alloc(this.clusterBytes);
    for (const c of this.chain(start)) {
      // Old contents (an earlier manifest, maybe with secrets) are zeroed, not just unlinked.
      await this.fh.write(zero, 0, zero.length, this.clusterOffset(c));
      this.setEntry(c, 0);
    }
  }

  /** Byte offsets of every 32-byte slot of a directory. */
  private slotsOf(dir: DirRef): number[] {
    if (dir.kind === 'root16') return Array.from({ length: this.rootEntries }, (_, i) => this.rootDirOffset + i * ENTRY);
    return this.chain(dir.cluster).flatMap((c) => Array.from({ length: this.clusterBytes / ENTRY }, (_, i) => this.clusterOffset(c) + i * ENTRY));
  }

  private async list(dir: DirRef): Promise<{ entries: DirEntry[]; slots: number[]; raw: Buffer[] }> {
    const slots = this.slotsOf(dir);
    const raw: Buffer[] = [];
    const entries: DirEntry[] = [];
    let lfn: string[] = [];
    let lfnSlots: number[] = [];
    for (const off of slots) {
      const e = Buffer.alloc(ENTRY);
      await this.fh.read(e, 0, ENTRY, off);
      raw.push(e);
      if (e[0] === 0x00) break;
      if (e[0] === 0xe5) {
        lfn = [];
        lfnSlots = [];
        continue;
      }
      if (e[11] === ATTR_LFN) {
        const chars = Buffer.concat([e.subarray(1, 11), e.subarray(14, 26), e.subarray(28, 32)]);
        lfn[(e[0]! & 0x1f) - 1] = chars.toString('utf16le').split('\u0000')[0]!;
        lfnSlots.push(off);
        continue;
      }
      const short = Buffer.from(e.subarray(0, 11));
      const base = short.toString('latin1', 0, 8).trimEnd();
      const ext = short.toString('latin1', 8, 11).trimEnd();
      const name = lfn.length ? lfn.join('') : ext ? `${base}.${ext}` : base;
      entries.push({
        name,
        shortName: short,
        attr: e[11]!,
        cluster: (e.readUInt16LE(20) << 16) | e.readUInt16LE(26),
        size: e.readUInt32LE(28),
        slots: [...lfnSlots, off],
      });
      lfn = [];
      lfnSlots = [];
    }
    return { entries, slots, raw };
  }

  private async find(dir: DirRef, name: string): Promise<DirEntry | undefined> {
    const { entries } = await this.list(dir);
    return entries.find((e) => e.name.toLowerCase() === name.toLowerCase() && !(e.attr & 0x08));
  }

  private shortNameFor(name: string, taken: Set<string>): { short: Buffer; needsLfn: boolean } {
    const clean = (s: string) => s.toUpperCase().replace(/[^A-Z0-9!#$%&'()\-@^_`{}~]/g, '');
    const dot = name.lastIndexOf('.');
    const base = clean(dot > 0 ? name.slice(0, dot) : name);
    const ext = clean(dot > 0 ? name.slice(dot + 1) : '').slice(0, 3);
    const exact = base.length <= 8 && `${base}${ext ? `.${ext}` : ''}` === name;
    const pack = (b: string) => Buffer.from(b.padEnd(8, ' ') + ext.padEnd(3, ' '), 'latin1');
    if (exact && !taken.has(pack(base).toString('latin1'))) return { short: pack(base), needsLfn: false };
    for (let n = 1; n < 1000; n++) {
      const suffix = `~${n}`;
      const candidate = pack((base || 'X').slice(0, 8 - suffix.length) + suffix);
      if (!taken.has(candidate.toString('latin1'))) return { short: candidate, needsLfn: true };
    }
    throw new MetisError('E_FAT_NAME', `no free short name for ${name}`);
  }

  private async addEntry(dir: DirRef, name: string, attr: number, cluster: number, size: number): Promise<void> {
    if (!name || name.length > 255 || /[\\/:*?"<>|\u0000-\u001f]/.test(name)) throw new MetisError('E_FAT_NAME', `invalid FAT file name: ${name}`);
    const { entries, raw } = await this.list(dir);
    const { short, needsLfn } = this.shortNameFor(name, new Set(entries.map((e) => e.shortName.toString('latin1'))));
    const utf16 = Buffer.from(name, 'utf16le');
    const parts = needsLfn ? Math.ceil(name.length / 13) : 0;
    const need = parts + 1;
    let slots = this.slotsOf(dir);
    // First run of `need` free slots (deleted, or past the end marker).
    let start = -1;
    for (let i = 0, run = 0; i < slots.length; i++) {
      const first = raw[i]?.[0];
      const free = first === undefined || first === 0x00 || first === 0xe5 || raw.slice(0, i).some((r) => r[0] === 0x00);
      run = free ? run + 1 : 0;
      if (run === need) {
        start = i - need + 1;
        break;
      }
    }
    if (start < 0) {
      if (dir.kind === 'root16') throw new MetisError('E_FAT_FULL', 'root directory is full');
      const last = this.chain(dir.cluster).at(-1)!;
      const [added] = this.allocate(1);
      this.setEntry(last, added!);
      await this.fh.write(Buffer.alloc(this.clusterBytes), 0, this.clusterBytes, this.clusterOffset(added!));
      await this.flushFat();
      return this.addEntry(dir, name, attr, cluster, size);
    }
    const sum = lfnChecksum(short);
    for (let p = 0; p < parts; p++) {
      const seq = parts - p; // LFN slots are stored last part first
      const e = Buffer.alloc(ENTRY, 0xff);
      const chunk = Buffer.alloc(26, 0xff);
      const piece = utf16.subarray((seq - 1) * 26, seq * 26);
      piece.copy(chunk);
      if (piece.length < 26) chunk.writeUInt16LE(0, piece.length);
      e[0] = seq | (p === 0 ? 0x40 : 0);
      chunk.copy(e, 1, 0, 10);
      e[11] = ATTR_LFN;
      e[12] = 0;
      e[13] = sum;
      chunk.copy(e, 14, 10, 22);
      e.writeUInt16LE(0, 26);
      chunk.copy(e, 28, 22, 26);
      await this.fh.write(e, 0, ENTRY, slots[start + p]!);
    }
    const e = Buffer.alloc(ENTRY);
    short.copy(e, 0);
    e[11] = attr;
    const { date, time } = dosDateTime(new Date());
    e.writeUInt16LE(time, 14);
    e.writeUInt16LE(date, 16);
    e.writeUInt16LE(date, 18);
    e.writeUInt16LE((cluster >>> 16) & 0xffff, 20);
    e.writeUInt16LE(time, 22);
    e.writeUInt16LE(date, 24);
    e.writeUInt16LE(cluster & 0xffff, 26);
    e.writeUInt32LE(size, 28);
    await this.fh.write(e, 0, ENTRY, slots[start + parts]!);
    slots = [];
  }

  private root(): DirRef {
    return this.fat32 ? { kind: 'chain', cluster: this.rootCluster } : { kind: 'root16' };
  }

  /** Walks (and with create, makes) the directories of `dirPath`. */
  private async dir(dirPath: string[], create: boolean): Promise<DirRef | null> {
    let cur = this.root();
    for (const part of dirPath) {
      let e = await this.find(cur, part);
      if (!e) {
        if (!create) return null;
        const [c] = this.allocate(1);
        const block = Buffer.alloc(this.clusterBytes);
        const dot = (name: string, cl: number, off: number) => {
          block.write(name.padEnd(11, ' '), off, 'latin1');
          block[off + 11] = ATTR_DIR;
          block.writeUInt16LE((cl >>> 16) & 0xffff, off + 20);
          block.writeUInt16LE(cl & 0xffff, off + 26);
        };
        // ".." of a directory in the root points at cluster 0, even on FAT32.
        const parentCluster = cur.kind === 'chain' && cur.cluster !== this.rootCluster ? cur.cluster : 0;
        dot('.', c!, 0);
        dot('..', parentCluster, ENTRY);
        await this.fh.write(block, 0, block.length, this.clusterOffset(c!));
        await this.addEntry(cur, part, ATTR_DIR, c!, 0);
        e = await this.find(cur, part);
      }
      if (!e || !(e.attr & ATTR_DIR)) throw new MetisError('E_FAT_NOTDIR', `${part} is not a directory`);
      cur = { kind: 'chain', cluster: e.cluster };
    }
    return cur;
  }

  async readFile(path: string): Promise<Buffer | null> {
    const parts = path.split('/').filter(Boolean);
    const dir = await this.dir(parts.slice(0, -1), false);
    const e = dir && (await this.find(dir, parts.at(-1)!));
    if (!e || e.attr & ATTR_DIR) return null;
    const out = Buffer.alloc(e.size);
    let pos = 0;
    for (const c of this.chain(e.cluster)) {
      if (pos >= e.size) break;
      const n = Math.min(this.clusterBytes, e.size - pos);
      await this.fh.read(out, pos, n, this.clusterOffset(c));
      pos += n;
    }
    return out;
  }

  async writeFile(path: string, data: Buffer): Promise<void> {
    const parts = path.split('/').filter(Boolean);
    const name = parts.at(-1)!;
    const dir = (await this.dir(parts.slice(0, -1), true))!;
    const existing = await this.find(dir, name);
    if (existing) {
      if (existing.attr & ATTR_DIR) throw new MetisError('E_FAT_ISDIR', `${path} is a directory`);
      await this.free(existing.cluster);
      const del = Buffer.from([0xe5]);
      for (const off of existing.slots) await this.fh.write(del, 0, 1, off);
    }
    const chain = data.length ? this.allocate(Math.ceil(data.length / this.clusterBytes)) : [];
    for (let i = 0; i < chain.length; i++) {
      const block = Buffer.alloc(this.clusterBytes);
      data.copy(block, 0, i * this.clusterBytes, (i + 1) * this.clusterBytes);
      await this.fh.write(block, 0, block.length, this.clusterOffset(chain[i]!));
    }
    await this.addEntry(dir, name, ATTR_ARCHIVE, chain[0] ?? 0, data.length);
    await this.flushFat();
  }

  /** Every FAT copy, then FSInfo's free count and next-free hint. */
  private async flushFat(): Promise<void> {
    for (let i = 0; i < this.numFats; i++) {
      await this.fh.write(this.fat, 0, this.fat.length, this.base + (this.reserved + i * this.fatSectors) * this.bps);
    }
    if (this.fat32 && this.fsInfoSector) {
      let free = 0;
      for (let c = 2; c < this.clusters + 2; c++) if (this.entry(c) === 0) free++;
      const b = Buffer.alloc(8);
      b.writeUInt32LE(free, 0);
      b.writeUInt32LE(0xffffffff, 4);
      await this.fh.write(b, 0, 8, this.base + this.fsInfoSector * this.bps + 488);
    }
  }
}
