/** The BIOS parameter block of a FAT volume, and the layout derived from it (in sectors). */
export interface Bpb {
  bytesPerSector: number;
  sectorsPerCluster: number;
  reserved: number;
  numFats: number;
  rootEntries: number;
  totalSectors: number;
  fatSectors: number;
  /** First sector of the data area (after reserved sectors, FATs and FAT12/16's fixed root). */
  dataStart: number;
  clusters: number;
  fat32: boolean;
  /** FAT32 only (0 otherwise). */
  rootCluster: number;
  fsInfoSector: number;
  /** Boot signature present and the geometry is one a FAT driver accepts. */
  plausible: boolean;
}

export function parseBpb(b: Buffer): Bpb {
  const bytesPerSector = b.readUInt16LE(11);
  const sectorsPerCluster = b.readUInt8(13);
  const reserved = b.readUInt16LE(14);
  const numFats = b.readUInt8(16);
  const rootEntries = b.readUInt16LE(17);
  const totalSectors = b.readUInt16LE(19) || b.readUInt32LE(32);
  const fatSectors = b.readUInt16LE(22) || b.readUInt32LE(36);
  const plausible = b.readUInt16LE(510) === 0xaa55 && [512, 1024, 2048, 4096].includes(bytesPerSector) && sectorsPerCluster > 0 && numFats > 0;
  const dataStart = reserved + numFats * fatSectors + (plausible ? Math.ceil((rootEntries * 32) / bytesPerSector) : 0);
  const fat32 = rootEntries === 0 && b.readUInt16LE(22) === 0;
  return {
    bytesPerSector,
    sectorsPerCluster,
    reserved,
    numFats,
    rootEntries,
    totalSectors,
    fatSectors,
    dataStart,
    clusters: plausible ? Math.floor((totalSectors - dataStart) / sectorsPerCluster) : 0,
    fat32,
    rootCluster: fat32 ? b.readUInt32LE(44) : 0,
    fsInfoSector: fat32 ? b.readUInt16LE(48) : 0,
    plausible,
  };
}
