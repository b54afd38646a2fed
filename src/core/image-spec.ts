import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { parse } from 'yaml';
import { ValidationError, MetisError } from '../lib/errors.js';

/** Packages every Metis class image needs for the bootstrap to run and manage the node. */
// fdisk: sfdisk, with which the bootstrap grows the root partition to the card's size.
export const BASE_PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'udev', 'nodejs', 'openssh-server', 'iproute2', 'kmod', 'e2fsprogs', 'fdisk'];

export const DEFAULT_CMDLINE = 'console=ttyS0 rw';

const pkgName = z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, 'must be a Debian package name');
/** A kernel module name as modprobe takes it (dashes and underscores are the same to it). */
const moduleName = z.string().max(64).regex(/^[a-z0-9][a-z0-9_-]*$/, 'must be a kernel module name like virtio_blk');

/**
 * The initramfs the image's kernel boots with. `modules` set: initramfs-tools builds it with
 * MODULES=list from exactly these modules (and their dependencies) instead of MODULES=most, so the
 * kernel package's postinst (run once, under qemu-user for a foreign arch) packs a small initramfs.
 */
export const initramfsSchema = z.strictObject({
  modules: z.array(moduleName).min(1, 'list at least the modules the root filesystem needs (disk driver, filesystem)').max(256)
    .refine((m) => new Set(m).size === m.length, 'must not list a module twice'),
});

/** What the image build reads from a class. Other class keys belong to the burner and are ignored here. */
export const imageSpecSchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'must be a class name like rpi4-worker'),
  arch: z.enum(['amd64', 'arm64']),
  suite: z.string().regex(/^[a-z]+$/).default('bookworm'),
  packages: z.array(pkgName).default([]),
  /** Where the image mounts its FAT boot partition (the manifest lives there, under metis/). */
  bootPath: z.string().regex(/^\/[^\s]*$/, 'must be an absolute path').default('/boot/firmware'),
  // FAT32 needs at least 65525 clusters: with 512-byte clusters that is just over 32 MiB.
  bootSizeMiB: z.number().int().min(64).max(2048).default(128),
  /** Total image size; computed from the root tree when absent. */
  sizeMiB: z.number().int().min(256).optional(),
  /** A vendor disk image to build on instead of debootstrap (local .img/.img.xz/.gz/.zst; relative to the class file). */
  base: z.string().min(1).optional(),
  /** The k3s binary the class carries (local file; the build never downloads it). */
  k3sBinary: z.string().optional(),
  /**
   * Kernel command line the image boots with (cmdline.txt on the boot partition), without root=.
   * Absent: a vendor base's own cmdline.txt, else DEFAULT_CMDLINE.
   */
  cmdline: z.string().min(1).optional(),
  /** Units the image enables beside Metis's own (e.g. systemd-networkd for networkd classes). */
  enable: z.array(z.string().regex(/^[A-Za-z0-9@_.-]+\.(service|timer|socket|target|path)$/, 'must be a unit name')).default([]),
  /** Absent: initramfs-tools' own default (MODULES=most). */
  initramfs: initramfsSchema.optional(),
});
export type ImageSpec = z.output<typeof imageSpecSchema>;

/**
 * Reads the image part of a class file: the class's top-level arch/packages and its optional
 * `image:` mapping (bootPath, suite, sizes, k3sBinary, cmdline). CLASS is a name looked up in
 * INVENTORY/classes/CLASS.yaml, or a path to a YAML file.
 */
export async function loadImageSpec(cls: string, inventory: string): Promise<{ spec: ImageSpec; file: string }> {
  const file = /[/.]/.test(cls) ? cls : join(inventory, 'classes', `${cls}.yaml`);
  const text = await readFile(file, 'utf8').catch((cause: unknown) => {
    throw new MetisError('E_CLASS', `class ${cls}: cannot read ${file}`, { file, cause });
  });
  const doc = (parse(text) ?? {}) as Record<string, unknown>;
  const img = (typeof doc['image'] === 'object' && doc['image'] !== null ? doc['image'] : {}) as Record<string, unknown>;
  const input = {
    name: doc['name'] ?? basename(file).replace(/\.ya?ml$/, ''),
    arch: doc['arch'],
    packages: doc['packages'] ?? img['packages'],
    ...Object.fromEntries(Object.entries(img).filter(([k]) => k !== 'packages' && k !== 'ref' && k !== 'sha256' && k !== 'url')),
  };
  const r = imageSpecSchema.safeParse(input);
  if (!r.success) {
    throw new ValidationError(file, r.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })));
  }
  if (r.data.base) r.data.base = resolve(dirname(file), r.data.base);
  return { spec: r.data, file };
}

export function allPackages(spec: ImageSpec): string[] {
  return [...new Set([...BASE_PACKAGES, ...spec.packages])].sort();
}
