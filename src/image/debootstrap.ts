import { createHash } from 'node:crypto';
import { access, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run, type Log } from '../core/exec.js';
import { allPackages, type ImageSpec } from '../core/image-spec.js';
import { MetisError } from '../lib/errors.js';
import { writeInitramfsConfig } from './initramfs.js';

/** Cache key of a base root tree: only what changes its content (not the mirror it came from). */
export function baseKey(spec: ImageSpec): string {
  // initramfs is absent from the JSON when the class sets none: those trees keep their cache key.
  const h = createHash('sha256').update(JSON.stringify({ v: 1, suite: spec.suite, arch: spec.arch, packages: allPackages(spec), initramfs: spec.initramfs }));
  return `${spec.suite}-${spec.arch}-${h.digest('hex').slice(0, 16)}`;
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(() => true, () => false);
}

/** Whether anything is mounted at or below `dir` (/proc/mounts escapes spaces as \\040). */
async function mountedUnder(dir: string): Promise<boolean> {
  const text = await readFile('/proc/mounts', 'utf8').catch(() => '');
  return text.split('\n').some((l) => {
    const at = (l.split(' ')[1] ?? '').replace(/\\040/g, ' ');
    return at === dir || at.startsWith(`${dir}/`);
  });
}

/** arm64 packages run their maintainer scripts under qemu-user: the binfmt handler must be registered. */
export async function ensureForeignArch(arch: ImageSpec['arch'], log: Log): Promise<void> {
  if (arch === 'amd64' || process.arch === 'arm64') return;
  if (!(await exists('/proc/sys/fs/binfmt_misc/status'))) {
    await run(log, 'mount', ['-t', 'binfmt_misc', 'binfmt_misc', '/proc/sys/fs/binfmt_misc']);
  }
  if (!(await exists('/proc/sys/fs/binfmt_misc/qemu-aarch64'))) await run(log, 'update-binfmts', ['--enable', 'qemu-aarch64']);
}

/**
 * A debootstrapped Debian tree with the class's packages, built once per package set and kept under
 * cacheDir (built beside it and renamed, so an interrupted build never leaves a half tree as cache).
 * Returns the cached tree; callers copy it before changing anything.
 */
export async function baseRootfs(spec: ImageSpec, mirror: string, cacheDir: string, log: Log): Promise<string> {
  const dir = join(cacheDir, `rootfs-${baseKey(spec)}`);
  if (await exists(join(dir, 'etc/os-release'))) {
    log(`base root tree from cache: ${dir}`);
    return dir;
  }
  await ensureForeignArch(spec.arch, log);
  const partial = `${dir}.partial`;
  const debs = join(cacheDir, 'debs');
  await rm(partial, { recursive: true, force: true });
  await mkdir(debs, { recursive: true });
  // Before debootstrap unpacks anything: the kernel's postinst then builds the initramfs once, small.
  await mkdir(partial, { recursive: true });
  await writeInitramfsConfig(partial, spec, log);
  // A failed debootstrap leaves a half tree (its own chroot mounts are already gone): drop it.
  await run(log, 'debootstrap', [
    '--variant=minbase',
    `--arch=${spec.arch}`,
    `--cache-dir=${debs}`,
    `--include=${allPackages(spec).join(',')}`,
    spec.suite,
    partial,
    mirror,
  ], { env: { DEBIAN_FRONTEND: 'noninteractive' } }).catch(async (err: unknown) => {
    if (!(await mountedUnder(partial))) await rm(partial, { recursive: true, force: true }).catch(() => {});
    throw err;
  });
  // debootstrap's own chroot mounts are gone by now; make sure, so rename/cp never cross a mount.
  if (await mountedUnder(partial)) throw new MetisError('E_TOOL', `debootstrap left a mount under ${partial}; unmount it and build again`);
  await rename(partial, dir);
  return dir;
}
