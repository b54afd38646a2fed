import { lstat, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MetisError } from '../lib/errors.js';
import { ensureForeignArch } from './debootstrap.js';
import { run, type Log } from '../core/exec.js';
import type { ImageSpec } from '../core/image-spec.js';

export interface DpkgPackage {
  version: string;
  arch: string;
}

/** Installed packages of a Debian-family root, read from its dpkg status file (no dpkg run). */
export function parseDpkgStatus(text: string): Map<string, DpkgPackage> {
  const out = new Map<string, DpkgPackage>();
  for (const stanza of text.split(/\n\s*\n/)) {
    const field = (k: string) => new RegExp(`^${k}: *(.*)$`, 'm').exec(stanza)?.[1]?.trim();
    const name = field('Package');
    if (name && / installed$/.test(field('Status') ?? '')) out.set(name, { version: field('Version') ?? '', arch: field('Architecture') ?? '' });
  }
  return out;
}

export async function installedPackages(root: string, label: string): Promise<Map<string, DpkgPackage>> {
  const text = await readFile(join(root, 'var/lib/dpkg/status'), 'utf8').catch((cause: unknown) => {
    throw new MetisError('E_BASE', `base image ${label}: no /var/lib/dpkg/status; Metis builds on Debian-family images only`, { cause });
  });
  return parseDpkgStatus(text);
}

/** "18.20.4+dfsg-1~deb12u3" → [18, 20]; an epoch ("1:…") is skipped. */
export function nodeVersion(version: string): [number, number] | undefined {
  const m = /^(?:\d+:)?(\d+)\.(\d+)/.exec(version);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** The bundle targets Debian 12's node 18.20; esbuild's floor is 18.19. */
export const MIN_NODE: [number, number] = [18, 19];

export function checkBase(pkgs: Map<string, DpkgPackage>, arch: string, label: string): void {
  const own = pkgs.get('dpkg')?.arch;
  if (own && own !== arch) throw new MetisError('E_BASE', `base image ${label} is ${own}, the class is ${arch}`);
  const node = pkgs.get('nodejs');
  const v = node && nodeVersion(node.version);
  if (v && (v[0] < MIN_NODE[0] || (v[0] === MIN_NODE[0] && v[1] < MIN_NODE[1]))) {
    throw new MetisError('E_BASE', `base image ${label}: nodejs ${node.version} is older than ${MIN_NODE.join('.')}, which metis-bootstrap needs`);
  }
}

/** Puts /etc/resolv.conf back as the vendor shipped it (a symlink to a resolver stub stays one). */
async function keepResolvConf(root: string): Promise<() => Promise<void>> {
  const p = join(root, 'etc/resolv.conf');
  const st = await lstat(p).catch(() => undefined);
  const link = st?.isSymbolicLink() ? await readlink(p) : undefined;
  const text = st && !link ? await readFile(p) : undefined;
  return async () => {
    await rm(p, { force: true });
    if (link !== undefined) await symlink(link, p);
    else if (text !== undefined) await writeFile(p, text);
  };
}

/**
 * Installs what the class needs and the base lacks, with the base's own apt sources, inside a
 * systemd-nspawn container (it mounts /proc, /dev and /sys for apt and tears them down itself;
 * foreign-arch roots run through qemu-user's binfmt handler). A base that has everything is not
 * touched, so a complete base builds offline.
 */
export async function installMissing(root: string, wanted: string[], arch: ImageSpec['arch'], label: string, log: Log): Promise<string[]> {
  const pkgs = await installedPackages(root, label);
  checkBase(pkgs, arch, label);
  const missing = wanted.filter((p) => !pkgs.has(p));
  if (!missing.length) {
    log(`base ${label} has every package the class needs`);
    return [];
  }
  // Only now, with the base accepted and packages to add, may the host get a binfmt handler.
  await ensureForeignArch(arch, log);
  const restore = await keepResolvConf(root);
  try {
    // Three argv runs in the container, no shell string (each stops the build when it fails).
    const inRoot = (argv: string[]) => run(log, 'systemd-nspawn', [
      '-q', '--register=no', '--keep-unit', '--resolv-conf=replace-host', '--pipe', '-D', root,
      '-E', 'DEBIAN_FRONTEND=noninteractive', ...argv,
    ]);
    await inRoot(['apt-get', 'update', '-q']);
    // --force-confold: files the build wrote before (the initramfs module list) stay as written.
    await inRoot(['apt-get', 'install', '-y', '-q', '--no-install-recommends', '-o', 'Dpkg::Options::=--force-confdef', '-o', 'Dpkg::Options::=--force-confold', ...missing]);
    await inRoot(['apt-get', 'clean']);
  } finally {
    await restore();
  }
  checkBase(await installedPackages(root, label), arch, label);
  return missing;
}
