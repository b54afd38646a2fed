import { endianness } from 'node:os';
import { MetisError } from '../../lib/errors.js';
import { parseBpb } from '../../core/fat-bpb.js';
import { ATTR_ARCHIVE, ATTR_DIR, ATTR_LFN, ATTR_VOLUME, checkName, ENTRY, entryRun, parseEntries, repointed, shortNameFor, type DirEntry } from './dir-entry.js';

export type { DirEntry } from './dir-entry.js';

/**
 * Where the volume's bytes are read and written. A FileHandle is one; tests wrap it to fail or
 * drop the Nth write (fault injection) or to lose every write to one region.
 */
export interface BlockIo {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<unknown>;
  write(buffer: Buffer, offset: number, length: number, position: number): Promise<unknown>;
  /** A barrier between the steps (the device may reorder writes between two syncs). */
  sync?(): Promise<void>;
}

/** A volume opened for reading has no writer (writeFile refuses it before any write). */
const refuseWrite = async (): Promise<never> => {
  throw new MetisError('E_FAT_READ_ONLY', 'a volume opened for reading (openForRead) cannot be written');
};

/** Where a directory lives: FAT12/16's fixed root region, or a cluster chain. */
type DirRef = { kind: 'root16' } | { kind: 'chain'; cluster: number };

interface Layout {
  base: number;
  bps: number;
  spc: number;
  reserved: number;
  numFats: number;
  fatSectors: number;
  rootEntries: number;
  clusters: number;
  fat32: boolean;
  rootCluster: number;
  fsInfoSector: number;
}

/**
 * A FAT16/FAT32 volume inside an image or block device, edited in place without a journal, in an
 * order that survives a power cut at any write (docs/crash-safety.md):
 *   1. space is checked before anything is written (a full partition keeps the old file);
 *   2. the new data goes to free clusters, then every FAT copy marks them used;
 *   3. the directory entry is switched to the new chain in one write inside one sector;
 *   4. only then is the old chain zeroed and freed.
 * After a fault the volume holds the old or the new file, never neither; at worst clusters are
 * leaked, and the next write reclaims them (zeroed: they may hold an old secret) and makes every
 * FAT copy equal to the first. `fsck.fat -n` finds nothing to fix after a completed write.
 */
export class FatVolume {
  /** What each FAT copy holds on the device (as last read or written). */
  private readonly copies: Buffer[];
  /** What FAT #1 should hold; flushFat writes every sector of every copy that differs. */
  private readonly fat: Buffer;
  /**
   * `fat` as entries (a view, not a copy) on a little-endian host, or null. The scans over every
   * cluster (leaked, free space; ~130k entries on a 64 MiB FAT32) run at the end of every burn on
   * cold code: indexing a typed array there is several times cheaper than readUInt32LE per entry.
   */
  private readonly table: Uint32Array | Uint16Array | null;
  /**
   * Which sectors of each FAT copy were read (openForRead: the copies are read as the chains
   * walked need them); null when every copy was read whole (open).
   */
  private loaded: Uint8Array[] | null = null;

  private constructor(
    private readonly io: BlockIo,
    private readonly l: Layout,
    copies: Buffer[],
  ) {
    this.copies = copies;
    // Its own ArrayBuffer, so the view is aligned.
    this.fat = Buffer.from(new ArrayBuffer(copies[0]!.length));
    copies[0]!.copy(this.fat);
    const le = endianness() === 'LE';
    this.table = !le ? null : l.fat32 ? new Uint32Array(this.fat.buffer, 0, this.fat.length >>> 2) : new Uint16Array(this.fat.buffer, 0, this.fat.length >>> 1);
  }

  /**
   * For reading only (readFile): the FAT copies are read sector run by sector run as the chains
   * walked need them, not whole. A burn's read-back of its manifest reads a few KiB of each copy
   * instead of 1 MiB from the card (≈ 11 ms at a card's 90 MB/s); every chain still comes from
   * the copy it is checked through, as on the device.
   */
  static async openForRead(io: Pick<BlockIo, 'read'>, offset: number): Promise<FatVolume> {
    return FatVolume.open({ read: (b, o, n, at) => io.read(b, o, n, at), write: refuseWrite }, offset, true);
  }

  static async open(io: BlockIo, offset: number, lazy = false): Promise<FatVolume> {
    const b = Buffer.alloc(512);
    await io.read(b, 0, 512, offset);
    const p = parseBpb(b);
    if (!p.plausible) throw new MetisError('E_NOT_FAT', `no FAT filesystem at byte ${offset}`);
    if (p.clusters < 4085) throw new MetisError('E_FAT12', 'FAT12 volumes are not supported (a boot partition is FAT16 or FAT32)');
    const l: Layout = {
      base: offset,
      bps: p.bytesPerSector,
      spc: p.sectorsPerCluster,
      reserved: p.reserved,
      numFats: p.numFats,
      fatSectors: p.fatSectors,
      rootEntries: p.rootEntries,
      clusters: p.clusters,
      fat32: p.fat32,
      rootCluster: p.rootCluster,
      fsInfoSector: p.fsInfoSector,
    };
    const copies: Buffer[] = [];
    for (let i = 0; i < l.numFats; i++) {
      const fat = Buffer.alloc(l.fatSectors * l.bps);
      if (!lazy) await io.read(fat, 0, fat.length, offset + (l.reserved + i * l.fatSectors) * l.bps);
      copies.push(fat);
    }
    const v = new FatVolume(io, l, copies);
    if (lazy) v.loaded = copies.map(() => new Uint8Array(l.fatSectors));
    return v;
  }

  /** openForRead: reads the sectors of FAT copy `copy` that the chain from `start` goes through. */
  private async loadChain(copy: number, start: number): Promise<void> {
    const seen = this.loaded?.[copy];
    if (!seen) return;
    const buf = this.copies[copy]!;
    const { bps } = this.l;
    const per = this.l.fat32 ? 4 : 2;
    for (let c = start, n = 0; this.valid(c) && n <= this.l.clusters; n++) {
      const s = Math.floor((c * per) / bps);
      if (!seen[s]) {
        const run = Math.min(8, this.l.fatSectors - s);
        await this.io.read(buf, s * bps, run * bps, this.l.base + (this.l.reserved + copy * this.l.fatSectors + s) * bps);
        seen.fill(1, s, s + run);
        if (copy === 0) buf.copy(this.fat, s * bps, s * bps, (s + run) * bps);
      }
      c = this.entry(c, buf);
    }
  }

  private get clusterBytes(): number {
    return this.l.bps * this.l.spc;
  }
  private get rootDirOffset(): number {
    return this.l.base + (this.l.reserved + this.l.numFats * this.l.fatSectors) * this.l.bps;
  }
  private clusterOffset(c: number): number {
    return this.rootDirOffset + Math.ceil((this.l.rootEntries * ENTRY) / this.l.bps) * this.l.bps + (c - 2) * this.clusterBytes;
  }
  private get eoc(): number {
    return this.l.fat32 ? 0x0fffffff : 0xffff;
  }
  private get bad(): number {
    return this.l.fat32 ? 0x0ffffff7 : 0xfff7;
  }
  private valid(c: number): boolean {
    return c >= 2 && c < this.l.clusters + 2;
  }
  private entry(c: number, fat = this.fat): number {
    if (fat === this.fat && this.table) return this.l.fat32 ? this.table[c]! & 0x0fffffff : this.table[c]!;
    return this.l.fat32 ? fat.readUInt32LE(c * 4) & 0x0fffffff : fat.readUInt16LE(c * 2);
  }

  /** The wanted FAT's entries as a typed array (a copy on a big-endian host), for the loops over every cluster. */
  private entries(): ArrayLike<number> {
    return this.table ?? Uint32Array.from({ length: this.l.clusters + 2 }, (_, c) => (c < 2 ? 0 : this.entry(c)));
  }
  private setEntry(c: number, v: number): void {
    if (this.l.fat32) this.fat.writeUInt32LE(((this.fat.readUInt32LE(c * 4) & 0xf0000000) | v) >>> 0, c * 4);
    else this.fat.writeUInt16LE(v, c * 2);
  }

  private chain(start: number, fat = this.fat): number[] {
    const out: number[] = [];
    for (let c = start; this.valid(c) && out.length <= this.l.clusters; c = this.entry(c, fat)) out.push(c);
    return out;
  }

  /** The first `max` free clusters. */
  private freeClusters(max: number): number[] {
    const out: number[] = [];
    const t = this.entries();
    const mask = this.l.fat32 ? 0x0fffffff : 0xffff;
    for (let c = 2, end = this.l.clusters + 2; c < end && out.length < max; c++) if ((t[c]! & mask) === 0) out.push(c);
    return out;
  }

  /** How many clusters are free, without listing them (a 64 MiB FAT32 has ~130k). */
  private countFree(): number {
    const t = this.entries();
    const mask = this.l.fat32 ? 0x0fffffff : 0xffff;
    let n = 0;
    for (let c = 2, end = this.l.clusters + 2; c < end; c++) if ((t[c]! & mask) === 0) n++;
    return n;
  }

  /** Marks `n` free clusters as one chain in the in-memory FAT (nothing is written). */
  private allocate(n: number): number[] {
    const got = this.freeClusters(n);
    if (got.length < n) throw new MetisError('E_FAT_FULL', `boot partition is full (${n} clusters needed, ${got.length} free)`);
    got.forEach((c, i) => this.setEntry(c, got[i + 1] ?? this.eoc));
    return got;
  }

  /** Zeroes a chain's clusters on the device (an old manifest may hold secrets), then frees them in memory. */
  private async release(clusters: number[]): Promise<void> {
    const zero = Buffer.alloc(this.clusterBytes);
    for (const c of clusters) await this.io.write(zero, 0, zero.length, this.clusterOffset(c));
    for (const c of clusters) this.setEntry(c, 0);
  }

  /** Byte offsets of every 32-byte slot of a directory. */
  private slotsOf(dir: DirRef): number[] {
    if (dir.kind === 'root16') return Array.from({ length: this.l.rootEntries }, (_, i) => this.rootDirOffset + i * ENTRY);
    return this.chain(dir.cluster).flatMap((c) => Array.from({ length: this.clusterBytes / ENTRY }, (_, i) => this.clusterOffset(c) + i * ENTRY));
  }

  /** Every slot of a directory, read a cluster (or the whole FAT16 root) at a time. */
  private async readDir(dir: DirRef): Promise<{ slots: number[]; raw: Buffer[] }> {
    if (dir.kind === 'chain') await this.loadChain(0, dir.cluster);
    const slots = this.slotsOf(dir);
    const regions: Array<[number, number]> = dir.kind === 'root16'
      ? [[this.rootDirOffset, this.l.rootEntries * ENTRY]]
      : this.chain(dir.cluster).map((c) => [this.clusterOffset(c), this.clusterBytes]);
    const raw: Buffer[] = [];
    for (const [off, len] of regions) {
      const b = Buffer.alloc(len);
      await this.io.read(b, 0, len, off);
      for (let i = 0; i < len; i += ENTRY) raw.push(b.subarray(i, i + ENTRY));
    }
    return { slots, raw };
  }

  private async list(dir: DirRef): Promise<DirEntry[]> {
    const { slots, raw } = await this.readDir(dir);
    return parseEntries(slots, raw);
  }

  private async find(dir: DirRef, name: string): Promise<DirEntry | undefined> {
    return (await this.list(dir)).find((e) => e.name.toLowerCase() === name.toLowerCase() && !(e.attr & ATTR_VOLUME));
  }

  private root(): DirRef {
    return this.l.fat32 ? { kind: 'chain', cluster: this.l.rootCluster } : { kind: 'root16' };
  }

  /**
   * Clusters the FAT marks used that no directory reaches (left by an interrupted write). The
   * walk is generous: it reads every slot, also past the end marker, so nothing live is freed.
   */
  private async leaked(): Promise<number[]> {
    const seen = new Uint8Array(this.l.clusters + 2);
    const mark = (start: number): number[] => this.chain(start).filter((c) => (seen[c] ? false : (seen[c] = 1)));
    const dirs: DirRef[] = [this.root()];
    if (this.l.fat32) mark(this.l.rootCluster);
    for (let i = 0; i < dirs.length && i < this.l.clusters; i++) {
      const { raw } = await this.readDir(dirs[i]!);
      for (const e of raw) {
        if (e[0] === 0x00 || e[0] === 0xe5 || e[11] === ATTR_LFN || e[11]! & ATTR_VOLUME || e[0] === 0x2e) continue;
        const cluster = (e.readUInt16LE(20) << 16) | e.readUInt16LE(26);
        const fresh = mark(cluster);
        if (e[11]! & ATTR_DIR && fresh.length && fresh[0] === cluster) dirs.push({ kind: 'chain', cluster });
      }
    }
    const out: number[] = [];
    const t = this.entries();
    const mask = this.l.fat32 ? 0x0fffffff : 0xffff;
    const bad = this.bad;
    for (let c = 2, end = this.l.clusters + 2; c < end; c++) {
      const v = t[c]! & mask;
      if (v !== 0 && v !== bad && !seen[c]) out.push(c);
    }
    return out;
  }

  /** Which parts of `dirPath` exist; throws when one of them is a file. */
  private async walk(dirPath: string[]): Promise<{ dir: DirRef | null; missing: number }> {
    let cur = this.root();
    for (let i = 0; i < dirPath.length; i++) {
      const e = await this.find(cur, dirPath[i]!);
      if (!e) return { dir: null, missing: dirPath.length - i };
      if (!(e.attr & ATTR_DIR)) throw new MetisError('E_FAT_NOTDIR', `${dirPath.slice(0, i + 1).join('/')} is not a directory`);
      cur = { kind: 'chain', cluster: e.cluster };
    }
    return { dir: cur, missing: 0 };
  }

  /**
   * Adds an entry. A new entry appears in one write: LFN slots and short entry in one run of free
   * slots inside one sector (a name of more than ~190 characters needs more than one sector and is
   * the one exception). Slots past the end marker are first made free explicitly, so the run is
   * never hidden behind a 0x00 nor followed by stale bytes.
   */
  private async addEntry(dir: DirRef, name: string, attr: number, cluster: number, size: number): Promise<void> {
    const { slots, raw } = await this.readDir(dir);
    const entries = parseEntries(slots, raw);
    const { short, needsLfn } = shortNameFor(name, new Set(entries.map((e) => e.shortName.toString('latin1'))));
    const run = entryRun(name, short, needsLfn, attr, cluster, size);
    const need = run.length / ENTRY;
    const end = raw.findIndex((r) => r[0] === 0x00);
    const endIdx = end < 0 ? raw.length : end;
    const sector = (i: number) => Math.floor(slots[i]! / this.l.bps);
    const oneSector = need <= this.l.bps / ENTRY;
    let start = -1;
    for (let i = 0, len = 0; i < slots.length; i++) {
      const free = i >= endIdx || raw[i]![0] === 0xe5;
      len = free && (len === 0 || !oneSector || sector(i) === sector(i - 1)) ? len + 1 : free ? 1 : 0;
      if (len === need) {
        start = i - need + 1;
        break;
      }
    }
    if (start < 0) {
      if (dir.kind === 'root16') throw new MetisError('E_FAT_FULL', 'root directory is full');
      // Grow the directory: a zeroed cluster, marked used (leaked until linked), then linked.
      const last = this.chain(dir.cluster).at(-1)!;
      const [added] = this.allocate(1);
      await this.io.write(Buffer.alloc(this.clusterBytes), 0, this.clusterBytes, this.clusterOffset(added!));
      await this.flushFat();
      await this.io.sync?.();
      this.setEntry(last, added!);
      await this.flushFat();
      return this.addEntry(dir, name, attr, cluster, size);
    }
    // Past the end marker everything must read as free: zero stale slots there (invisible), then
    // turn the old end marker and any gap before the run into deleted slots.
    for (let i = endIdx; i < slots.length; i++) {
      if (raw[i]!.some((b) => b !== 0)) await this.io.write(Buffer.alloc(ENTRY), 0, ENTRY, slots[i]!);
    }
    for (let i = endIdx; i < start; i++) await this.io.write(Buffer.from([0xe5]), 0, 1, slots[i]!);
    if (oneSector) await this.io.write(run, 0, run.length, slots[start]!);
    else for (let p = 0; p < need; p++) await this.io.write(run, p * ENTRY, ENTRY, slots[start + p]!);
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
        const parentCluster = cur.kind === 'chain' && cur.cluster !== this.l.rootCluster ? cur.cluster : 0;
        dot('.', c!, 0);
        dot('..', parentCluster, ENTRY);
        await this.io.write(block, 0, block.length, this.clusterOffset(c!));
        await this.flushFat();
        await this.io.sync?.();
        await this.addEntry(cur, part, ATTR_DIR, c!, 0);
        e = await this.find(cur, part);
      }
      if (!e || !(e.attr & ATTR_DIR)) throw new MetisError('E_FAT_NOTDIR', `${part} is not a directory`);
      cur = { kind: 'chain', cluster: e.cluster };
    }
    return cur;
  }

  private async readVia(e: DirEntry, fat: Buffer): Promise<Buffer> {
    await this.loadChain(this.copies.indexOf(fat), e.cluster);
    const out = Buffer.alloc(e.size);
    let pos = 0;
    for (const c of this.chain(e.cluster, fat)) {
      if (pos >= e.size) break;
      const n = Math.min(this.clusterBytes, e.size - pos);
      await this.io.read(out, pos, n, this.clusterOffset(c));
      pos += n;
    }
    if (pos < e.size) throw new MetisError('E_FAT_CHAIN', `cluster chain of ${e.name} is shorter than its size (${pos} of ${e.size} bytes)`);
    return out;
  }

  /**
   * Reads a file through every FAT copy as it is on the device; a copy that leads elsewhere (a
   * lost write to FAT #2, say) is an error, not a quiet success.
   */
  async readFile(path: string): Promise<Buffer | null> {
    const parts = path.split('/').filter(Boolean);
    const dir = await this.dir(parts.slice(0, -1), false);
    const e = dir && (await this.find(dir, parts.at(-1)!));
    if (!e || e.attr & ATTR_DIR) return null;
    const first = await this.readVia(e, this.copies[0]!);
    for (let i = 1; i < this.copies.length; i++) {
      const other = await this.readVia(e, this.copies[i]!).catch(() => null);
      if (!other || !other.equals(first)) throw new MetisError('E_FAT_COPIES', `${path}: FAT copy #${i + 1} does not lead to the same data as FAT #1`);
    }
    return first;
  }

  async writeFile(path: string, data: Buffer): Promise<void> {
    if (this.loaded) throw new MetisError('E_FAT_READ_ONLY', 'a volume opened for reading (openForRead) cannot be written');
    const parts = path.split('/').filter(Boolean);
    const name = parts.at(-1) ?? '';
    for (const p of parts.length ? parts : ['']) checkName(p);

    // Everything that can refuse is decided before the first write.
    const leaked = await this.leaked();
    const { dir: existingDir, missing } = await this.walk(parts.slice(0, -1));
    const existing = existingDir ? await this.find(existingDir, name) : undefined;
    if (existing && existing.attr & ATTR_DIR) throw new MetisError('E_FAT_ISDIR', `${path} is a directory`);
    const dataClusters = Math.ceil(data.length / this.clusterBytes);
    // New directories, plus one cluster per directory that may have to grow for a new entry.
    const needed = dataClusters + missing + (existing ? 0 : missing + 1);
    const free = this.countFree() + leaked.length;
    if (free < needed) {
      throw new MetisError('E_FAT_FULL', `boot partition is full: ${path} needs ${needed} free clusters of ${this.clusterBytes} bytes, ${free} are free; nothing was changed`);
    }

    if (leaked.length || this.copies.some((c) => !c.equals(this.fat))) {
      await this.release(leaked);
      await this.flushFat();
    }
    const dir = (await this.dir(parts.slice(0, -1), true))!;
    const chain = dataClusters ? this.allocate(dataClusters) : [];
    for (let i = 0; i < chain.length; i++) {
      const block = Buffer.alloc(this.clusterBytes);
      data.copy(block, 0, i * this.clusterBytes, (i + 1) * this.clusterBytes);
      await this.io.write(block, 0, block.length, this.clusterOffset(chain[i]!));
    }
    await this.flushFat();
    await this.io.sync?.();
    const target = existing ?? (await this.find(dir, name));
    if (!target) {
      await this.addEntry(dir, name, ATTR_ARCHIVE, chain[0] ?? 0, data.length);
      return;
    }
    // The switch: one 32-byte write of the short entry (name and LFN slots stay as they are).
    const shortSlot = target.slots.at(-1)!;
    const old = Buffer.alloc(ENTRY);
    await this.io.read(old, 0, ENTRY, shortSlot);
    const next = repointed(old, chain[0] ?? 0, data.length);
    await this.io.write(next, 0, ENTRY, shortSlot);
    await this.io.sync?.();
    if (target.cluster) {
      await this.release(this.chain(target.cluster).filter((c) => !chain.includes(c)));
      await this.flushFat();
    }
  }

  /** Every sector of every FAT copy that differs from the wanted FAT (copy by copy), then FSInfo. */
  private async flushFat(): Promise<void> {
    const { bps } = this.l;
    for (let i = 0; i < this.l.numFats; i++) {
      const copy = this.copies[i]!;
      // One comparison of the whole copy first: at a burn's end most copies differ in a sector or two.
      if (copy.equals(this.fat)) continue;
      const at = this.l.base + (this.l.reserved + i * this.l.fatSectors) * bps;
      for (let s = 0; s < this.l.fatSectors; s++) {
        if (this.fat.compare(copy, s * bps, (s + 1) * bps, s * bps, (s + 1) * bps) === 0) continue;
        const want = this.fat.subarray(s * bps, (s + 1) * bps);
        await this.io.write(want, 0, bps, at + s * bps);
        want.copy(copy, s * bps);
      }
    }
    if (this.l.fat32 && this.l.fsInfoSector) {
      const b = Buffer.alloc(8);
      b.writeUInt32LE(this.countFree(), 0);
      b.writeUInt32LE(0xffffffff, 4);
      await this.io.write(b, 0, 8, this.l.base + this.l.fsInfoSector * bps + 488);
    }
  }
}
