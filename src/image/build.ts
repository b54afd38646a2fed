import { rmSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { customize, fatUuid, type Payload } from './customize.js';
import { baseRootfs } from './debootstrap.js';
import { layout, writeDisk } from './disk.js';
import { requireBuildHost } from './host.js';
import { Cleanups } from './interrupt.js';
import { classDiskIds } from './ids.js';
import { hostMirror } from './mirror.js';
import { installMissing } from './packages.js';
import { writeInitramfsConfig } from './initramfs.js';
import { sha256File } from '../core/hash-file.js';
import { onPath, run, type Log } from '../core/exec.js';
import { allPackages, DEFAULT_CMDLINE, type ImageSpec } from '../core/image-spec.js';
import { vendorCmdline, vendorRootfs } from './vendor.js';

const DISK_TOOLS = ['sfdisk', 'mkfs.vfat', 'mcopy', 'mkfs.ext4', 'systemctl', 'cp', 'du'];
export const BUILD_TOOLS = ['debootstrap', ...DISK_TOOLS];
/** A vendor base is read through a read-only loop mount and mtools; packages go in with systemd-nspawn. */
export const BASE_TOOLS = ['losetup', 'mount', 'umount', 'mdir', 'systemd-nspawn', ...DISK_TOOLS];

export interface BuildOptions {
  spec: ImageSpec;
  out: string;
  cacheDir: string;
  payload: Payload;
  mirror?: string;
  /** A vendor disk image (.img, .img.xz/.gz/.zst) to build on instead of debootstrap. */
  base?: string;
  /** What an interrupt must undo (see withInterrupts); the build adds and drops its steps. */
  cleanups?: Cleanups;
  log: Log;
}

export interface BuildResult {
  image: string;
  sha256: string;
  bmap?: string;
  /** Kernel and initrd copied out of /boot, for booting the image directly (QEMU -kernel). */
  kernel?: string;
  initrd?: string;
  cmdline: string;
  /** The vendor image the build started from, when not debootstrap. */
  base?: string;
  /** Packages installed into the vendor base because it lacked them. */
  installed?: string[];
  rootUuid: string;
  bootUuid: string;
  durationMs: number;
}

function stem(out: string): string {
  return out.replace(/\.img$/, '');
}

async function usedMiB(dir: string, log: Log): Promise<number> {
  const out = await run(log, 'du', ['-s', '--block-size=1M', '-x', dir]);
  return Number(out.split(/\s/)[0]);
}

/** Moves what the root tree holds at the boot path onto the FAT staging dir (the mount point stays, empty). */
async function stageBootFiles(root: string, bootPath: string, staging: string): Promise<void> {
  const src = join(root, bootPath.slice(1));
  await mkdir(staging, { recursive: true });
  for (const f of await readdir(src)) await rename(join(src, f), join(staging, f));
}

async function exportKernel(root: string, out: string): Promise<{ kernel?: string; initrd?: string }> {
  const boot = await readdir(join(root, 'boot')).catch(() => [] as string[]);
  const vmlinuz = boot.filter((f) => f.startsWith('vmlinuz-')).sort().pop();
  const initrd = boot.filter((f) => f.startsWith('initrd.img-')).sort().pop();
  const r: { kernel?: string; initrd?: string } = {};
  if (vmlinuz) await copyFile(join(root, 'boot', vmlinuz), (r.kernel = `${stem(out)}.vmlinuz`));
  if (initrd) await copyFile(join(root, 'boot', initrd), (r.initrd = `${stem(out)}.initrd.img`));
  return r;
}

/** The starting root tree in root: a cached debootstrap, or a vendor image with the class's packages added. */
async function startTree(o: BuildOptions, root: string, work: string, cleanups: Cleanups): Promise<{ cmdline?: string; installed?: string[] }> {
  if (!o.base) {
    const mirror = o.mirror ?? (await hostMirror(o.spec.suite));
    await run(o.log, 'cp', ['-a', await baseRootfs(o.spec, mirror, o.cacheDir, o.log), root]);
    return {};
  }
  await mkdir(root);
  const vendor = await vendorRootfs(o.base, root, o.spec.bootPath, work, cleanups, o.log);
  // Before the missing packages go in: a kernel installed now builds its initramfs with the class's list.
  await writeInitramfsConfig(root, o.spec, o.log);
  const installed = await installMissing(root, allPackages(o.spec), o.spec.arch, o.base, o.log);
  return { cmdline: vendor.cmdline, installed };
}

/** The FAT partition: the class's size, or larger when the boot files need it (vendor firmware). */
async function bootMiB(spec: ImageSpec, bootFiles: string, log: Log): Promise<number> {
  const need = Math.ceil(((await usedMiB(bootFiles, log)) * 1.2) + 16);
  return Math.max(spec.bootSizeMiB, need);
}

/** debootstrap (cached) or a vendor base → install Metis, strip identity → MBR image with FAT32 boot + ext4 root → sha256, bmap. */
export async function buildImage(o: BuildOptions): Promise<BuildResult> {
  const t0 = Date.now();
  await requireBuildHost(o.base ? BASE_TOOLS : BUILD_TOOLS);
  const work = await mkdtemp(join(tmpdir(), 'metis-image-'));
  const partial = `${o.out}.partial`;
  const cleanups = o.cleanups ?? new Cleanups();
  const dropWork = cleanups.add(`work dir ${work}`, () => rmSync(work, { recursive: true, force: true }));
  const dropPartial = cleanups.add(`partial image ${partial}`, () => rmSync(partial, { force: true }));
  try {
    const root = join(work, 'root');
    const start = await startTree(o, root, work, cleanups);
    const ids = classDiskIds(o.spec.name);
    await customize(root, o.spec, o.payload, ids, o.log);
    const bootFiles = join(work, 'boot');
    await stageBootFiles(root, o.spec.bootPath, bootFiles);
    // On a vendor base root= points at our partition by PARTUUID (Pi kernels often have no initramfs);
    // its own command line (console, quirks) is kept unless the class gives one.
    const cmdline = o.base
      ? vendorCmdline(o.spec.cmdline ?? start.cmdline ?? DEFAULT_CMDLINE, ids.bootSerial)
      : `root=UUID=${ids.rootUuid} ${o.spec.cmdline ?? DEFAULT_CMDLINE}`;
    await writeFile(join(bootFiles, 'cmdline.txt'), `${cmdline}\n`);
    await mkdir(dirname(o.out), { recursive: true });
    const kernel = await exportKernel(root, o.out);
    const rootMiB = Math.ceil((await usedMiB(root, o.log)) * 1.3) + 256;
    const boot = await bootMiB(o.spec, bootFiles, o.log);
    const total = o.spec.sizeMiB ?? 1 + boot + rootMiB;
    await writeDisk(partial, layout(boot, total), ids, root, bootFiles, o.log);
    await rename(partial, o.out);
    const sha256 = await sha256File(o.out);
    await writeFile(`${o.out}.sha256`, `${sha256}  ${basename(o.out)}\n`);
    let bmap: string | undefined;
    if (onPath('bmaptool')) {
      await run(o.log, 'bmaptool', ['-q', 'create', '-o', `${o.out}.bmap`, o.out]);
      bmap = `${o.out}.bmap`;
    }
    return { image: o.out, sha256, bmap, ...kernel, cmdline, base: o.base, installed: start.installed, rootUuid: ids.rootUuid, bootUuid: fatUuid(ids.bootSerial), durationMs: Date.now() - t0 };
  } finally {
    await rm(work, { recursive: true, force: true });
    await rm(partial, { force: true });
    dropWork();
    dropPartial();
  }
}
