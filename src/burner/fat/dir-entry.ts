import { MetisError } from '../../lib/errors.js';

export const ATTR_VOLUME = 0x08;
export const ATTR_DIR = 0x10;
export const ATTR_ARCHIVE = 0x20;
export const ATTR_LFN = 0x0f;
export const ENTRY = 32;

export interface DirEntry {
  name: string;
  shortName: Buffer;
  attr: number;
  cluster: number;
  size: number;
  /** Byte offsets (in the partition) of this entry's LFN slots and, last, its short slot. */
  slots: number[];
}

export function lfnChecksum(short: Buffer): number {
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

export function checkName(name: string): void {
  if (!name || name === '.' || name === '..' || name.length > 255 || /[\\/:*?"<>|\u0000-\u001f]/.test(name)) {
    throw new MetisError('E_FAT_NAME', `invalid FAT file name: ${JSON.stringify(name)}`);
  }
}

export function shortNameFor(name: string, taken: Set<string>): { short: Buffer; needsLfn: boolean } {
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

/** The 32-byte short entry (attributes, first cluster, size, timestamps now). */
export function shortEntry(short: Buffer, attr: number, cluster: number, size: number, now = new Date()): Buffer {
  const e = Buffer.alloc(ENTRY);
  short.copy(e, 0);
  e[11] = attr;
  const { date, time } = dosDateTime(now);
  e.writeUInt16LE(time, 14);
  e.writeUInt16LE(date, 16);
  e.writeUInt16LE(date, 18);
  e.writeUInt16LE((cluster >>> 16) & 0xffff, 20);
  e.writeUInt16LE(time, 22);
  e.writeUInt16LE(date, 24);
  e.writeUInt16LE(cluster & 0xffff, 26);
  e.writeUInt32LE(size, 28);
  return e;
}

/** An existing short entry pointed at a new chain: same name and attributes, new cluster, size and mtime. */
export function repointed(old: Buffer, cluster: number, size: number, now = new Date()): Buffer {
  const e = Buffer.from(old);
  const { date, time } = dosDateTime(now);
  e.writeUInt16LE((cluster >>> 16) & 0xffff, 20);
  e.writeUInt16LE(time, 22);
  e.writeUInt16LE(date, 24);
  e.writeUInt16LE(date, 18);
  e.writeUInt16LE(cluster & 0xffff, 26);
  e.writeUInt32LE(size, 28);
  return e;
}

/** LFN slots (stored last part first) followed by the short entry, as one buffer. */
export function entryRun(name: string, short: Buffer, needsLfn: boolean, attr: number, cluster: number, size: number): Buffer {
  const utf16 = Buffer.from(name, 'utf16le');
  const parts = needsLfn ? Math.ceil(name.length / 13) : 0;
  const sum = lfnChecksum(short);
  const out: Buffer[] = [];
  for (let p = 0; p < parts; p++) {
    const seq = parts - p;
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
    out.push(e);
  }
  out.push(shortEntry(short, attr, cluster, size));
  return Buffer.concat(out);
}

/** Parses a directory's slots (raw 32-byte entries in order) into entries; stops at the end marker. */
export function parseEntries(slots: number[], raw: Buffer[]): DirEntry[] {
  const entries: DirEntry[] = [];
  let lfn: string[] = [];
  let lfnSlots: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const e = raw[i]!;
    if (e[0] === 0x00) break;
    if (e[0] === 0xe5) {
      lfn = [];
      lfnSlots = [];
      continue;
    }
    if (e[11] === ATTR_LFN) {
      const chars = Buffer.concat([e.subarray(1, 11), e.subarray(14, 26), e.subarray(28, 32)]);
      lfn[(e[0]! & 0x1f) - 1] = chars.toString('utf16le').split('\u0000')[0]!;
      lfnSlots.push(slots[i]!);
      continue;
    }
    const short = Buffer.from(e.subarray(0, 11));
    const base = short.toString('latin1', 0, 8).trimEnd();
    const ext = short.toString('latin1', 8, 11).trimEnd();
    entries.push({
      name: lfn.length ? lfn.join('') : ext ? `${base}.${ext}` : base,
      shortName: short,
      attr: e[11]!,
      cluster: (e.readUInt16LE(20) << 16) | e.readUInt16LE(26),
      size: e.readUInt32LE(28),
      slots: [...lfnSlots, slots[i]!],
    });
    lfn = [];
    lfnSlots = [];
  }
  return entries;
}
