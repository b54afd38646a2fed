import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { customize, fatUuid, type Payload } from './customize.js';
import { baseRootfs } from './debootstrap.js';
import { layout, writeDisk } from './disk.js';
import { requireBuildHost } from './host.js';
import { classDiskIds } from './ids.js';
import { hostMirror } from './mirror.js';
import { run, type Log } from './run.js';
import type { ImageSpec } from './spec.js';

export const BUILD_TOOLS = ['debootstrap', 'sfdisk', 'mkfs.vfat', 'mcopy', 'mkfs.ext4', 'systemctl', 'cp', 'du'];

export interface BuildOptions {
  spec: ImageSpec;
  out: string;
  cacheDir: string;
  payload: Payload;
  mirror?: string;
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
  rootUuid: string;
  bootUuid: string;
  durationMs: number;
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
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

/** debootstrap (cached) → copy → install Metis, strip identity → MBR image with FAT32 boot + ext4 root → sha256, bmap. */
export async function buildImage(o: BuildOptions): Promise<BuildResult> {
  const t0 = Date.now();
  await requireBuildHost(BUILD_TOOLS);
  const mirror = o.mirror ?? (await hostMirror(o.spec.suite));
  const base = await baseRootfs(o.spec, mirror, o.cacheDir, o.log);
  const work = await mkdtemp(join(tmpdir(), 'metis-image-'));
  const partial = `${o.out}.partial`;
  try {
    const root = join(work, 'root');
    await run(o.log, 'cp', ['-a', base, root]);
    const ids = classDiskIds(o.spec.name);
    await customize(root, o.spec, o.payload, ids, o.log);
    const bootFiles = join(work, 'boot');
    await stageBootFiles(root, o.spec.bootPath, bootFiles);
    const cmdline = `root=UUID=${ids.rootUuid} ${o.spec.cmdline}`;
    await writeFile(join(bootFiles, 'cmdline.txt'), `${cmdline}\n`);
    await mkdir(dirname(o.out), { recursive: true });
    const kernel = await exportKernel(root, o.out);
    const rootMiB = Math.ceil((await usedMiB(root, o.log)) * 1.3) + 256;
    const total = o.spec.sizeMiB ?? 1 + o.spec.bootSizeMiB + rootMiB;
    await writeDisk(partial, layout(o.spec.bootSizeMiB, total), ids, root, bootFiles, o.log);
    await rename(partial, o.out);
    const sha256 = await sha256File(o.out);
    await writeFile(`${o.out}.sha256`, `${sha256}  ${basename(o.out)}\n`);
    let bmap: string | undefined;
    if (await run(o.log, 'sh', ['-c', 'command -v bmaptool']).then(() => true, () => false)) {
      await run(o.log, 'bmaptool', ['-q', 'create', '-o', `${o.out}.bmap`, o.out]);
      bmap = `${o.out}.bmap`;
    }
    return { image: o.out, sha256, bmap, ...kernel, cmdline, rootUuid: ids.rootUuid, bootUuid: fatUuid(ids.bootSerial), durationMs: Date.now() - t0 };
  } finally {
    await rm(work, { recursive: true, force: true });
    await rm(partial, { force: true });
  }
}
