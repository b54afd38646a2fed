import { chmod, copyFile, mkdir, readdir, rm, writeFile, lstat, readlink, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { run, type Log } from '../core/exec.js';
import type { ImageSpec } from '../core/image-spec.js';

export interface Payload {
  /** dist/metis-bootstrap.js, installed as /usr/local/bin/metis-bootstrap. */
  bundle: string;
  /** Directory with the metis-bootstrap*.service/.timer units, their start wrapper and snapshot entry. */
  unitsDir: string;
  /** Directories copied over the root tree, in order (test NIC names, extra units, …). */
  overlays: string[];
  /** Extra units to enable beside Metis's own. */
  enable: string[];
}

export interface DiskIds {
  /** ext4 UUID of the root filesystem. */
  rootUuid: string;
  /** FAT volume id, 8 hex digits. */
  bootSerial: string;
}

/** `XXXX-XXXX`, as blkid and fstab spell a FAT volume id. */
export function fatUuid(serial: string): string {
  return `${serial.slice(0, 4)}-${serial.slice(4)}`.toUpperCase();
}

export function fstab(spec: ImageSpec, ids: DiskIds): string {
  // umask=0077: the card's manifest holds secrets until the first converge scrubs them. No nofail:
  // it would drop the mount's ordering before local-fs.target, and the early bootstrap (After=local-fs)
  // would then look for the manifest before the boot partition is mounted.
  return [
    '# Written by metis image build. Metis adds its managed mounts below.',
    `UUID=${ids.rootUuid} / ext4 defaults,noatime 0 1`,
    `UUID=${fatUuid(ids.bootSerial)} ${spec.bootPath} vfat defaults,umask=0077 0 2`,
    '',
  ].join('\n');
}

/** Everything that makes one node differ from another is removed, so each card gets its own. */
export async function stripIdentity(root: string, log: Log): Promise<void> {
  // Empty (not absent): systemd then treats the boot as first boot and writes a fresh id.
  await writeFile(join(root, 'etc/machine-id'), '');
  const dbusId = join(root, 'var/lib/dbus/machine-id');
  const st = await lstat(dbusId).catch(() => undefined);
  if (st && !(st.isSymbolicLink() && (await readlink(dbusId)) === '/etc/machine-id')) await unlink(dbusId);
  for (const f of await readdir(join(root, 'etc/ssh')).catch(() => [] as string[])) {
    if (/^ssh_host_.*_key(\.pub)?$/.test(f)) await rm(join(root, 'etc/ssh', f));
  }
  const iscsiDir = join(root, 'etc/iscsi');
  if ((await readdir(iscsiDir).catch(() => null)) !== null) {
    // open-iscsi's startup checks turn this into a fresh iqn on the node's first boot.
    await writeFile(join(iscsiDir, 'initiatorname.iscsi'), 'GenerateName=yes\n', { mode: 0o600 });
  }
  for (const f of ['var/lib/systemd/random-seed', 'var/lib/systemd/credential.secret']) {
    await rm(join(root, f), { force: true });
  }
  // The build host's resolvers must not ship; a vendor's link to its resolver stub stays.
  const resolv = join(root, 'etc/resolv.conf');
  if (!(await lstat(resolv).catch(() => undefined))?.isSymbolicLink()) {
    await rm(resolv, { force: true });
    await writeFile(resolv, '');
  }
  await writeFile(join(root, 'etc/hostname'), 'localhost\n');
  await rm(join(root, 'var/cache/apt/archives'), { recursive: true, force: true });
  await mkdir(join(root, 'var/cache/apt/archives/partial'), { recursive: true });
  log('identity stripped: machine-id empty, no SSH host keys, iSCSI GenerateName=yes');
}

/** Installs Metis and the class payload into a copy of the base tree and enables the units. */
export async function customize(root: string, spec: ImageSpec, payload: Payload, ids: DiskIds, log: Log): Promise<void> {
  for (const o of payload.overlays) await run(log, 'cp', ['-a', '--no-preserve=ownership', `${o}/.`, `${root}/`]);
  await mkdir(join(root, 'usr/local/bin'), { recursive: true });
  await copyFile(payload.bundle, join(root, 'usr/local/bin/metis-bootstrap'));
  await chmod(join(root, 'usr/local/bin/metis-bootstrap'), 0o755);
  if (spec.k3sBinary) {
    await copyFile(spec.k3sBinary, join(root, 'usr/local/bin/k3s'));
    await chmod(join(root, 'usr/local/bin/k3s'), 0o755);
  }
  // The units' ExecStart: the start wrapper and its startup snapshot's entry (docs/bootstrap.md, "Boot time").
  await mkdir(join(root, 'usr/local/lib/metis'), { recursive: true });
  for (const [f, mode] of [['metis-bootstrap-start', 0o755], ['metis-bootstrap-snapshot.js', 0o644]] as const) {
    await copyFile(join(payload.unitsDir, f), join(root, 'usr/local/lib/metis', f));
    await chmod(join(root, 'usr/local/lib/metis', f), mode);
  }
  const units = (await readdir(payload.unitsDir)).filter((f) => /\.(service|timer|target)$/.test(f));
  for (const u of units) await copyFile(join(payload.unitsDir, u), join(root, 'etc/systemd/system', u));
  await mkdir(join(root, spec.bootPath.slice(1)), { recursive: true });
  await writeFile(join(root, 'etc/fstab'), fstab(spec, ids));
  // A target (metis-online.target) is started by the boot run, never enabled.
  const enable = [...units.filter((u) => !u.endsWith('.target')).map((u) => basename(u)), ...payload.enable];
  await run(log, 'systemctl', [`--root=${root}`, 'enable', ...enable]);
  await stripIdentity(root, log);
}
