import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, symlinkSync } from 'node:fs';
import { afterEach, beforeEach } from 'vitest';
import { tempRoot } from '../helpers/context.js';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, lstatSync, readlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** What a fresh Debian root has that the tasks read: users, hosts, sshd config, a few units. */
export function makeSysroot(root: string): void {
  const put = (p: string, text: string) => {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), text);
  };
  put('etc/passwd', 'root:x:0:0:root:/root:/bin/bash\nadmin:x:1000:1000:Admin:/home/admin:/bin/bash\n');
  put('etc/group', 'root:x:0:\nadm:x:4:\nadmin:x:1000:\n');
  // The sudo package's main file (the users task writes its rules into /etc/sudoers.d).
  put('etc/sudoers', 'Defaults env_reset\nroot ALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n');
  put('etc/hostname', 'debian\n');
  put('etc/hosts', '127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n\n::1\t\tlocalhost ip6-localhost ip6-loopback\n');
  put('etc/ssh/sshd_config', 'Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\nSubsystem sftp /usr/lib/openssh/sftp-server\n');
  mkdirSync(join(root, 'etc/ssh/sshd_config.d'), { recursive: true });
  put('lib/systemd/system/ssh.service', '[Unit]\nDescription=OpenBSD Secure Shell server\n[Service]\nExecStart=/usr/sbin/sshd -D\n[Install]\nWantedBy=multi-user.target\nAlias=sshd.service\n');
  put('lib/systemd/system/systemd-journald.service', '[Unit]\nDescription=Journal Service\n[Service]\nExecStart=/lib/systemd/systemd-journald\n');
  mkdirSync(join(root, 'root'), { recursive: true, mode: 0o700 });
  mkdirSync(join(root, 'home/admin'), { recursive: true });
  mkdirSync(join(root, 'var/lib'), { recursive: true });
  mkdirSync(join(root, 'var/log'), { recursive: true });
  put('usr/sbin/iscsiadm', '');
  put('lib/systemd/system/iscsid.service', '[Unit]\nDescription=iSCSI initiator daemon\n[Service]\nExecStart=/usr/sbin/iscsid -f\n[Install]\nWantedBy=multi-user.target\n');
  put('lib/systemd/system/open-iscsi.service', '[Unit]\nDescription=Login to default iSCSI targets\n[Service]\nType=oneshot\nExecStart=/bin/true\n[Install]\nWantedBy=sysinit.target\n');
  put('etc/iscsi/initiatorname.iscsi', 'GenerateName=yes\n');
  // The class image carries k3s; here the named stand-in (no k3s is downloadable).
  mkdirSync(join(root, 'usr/local/bin'), { recursive: true });
  copyFileSync(new URL('../fixtures/k3s-standin/k3s', import.meta.url), join(root, 'usr/local/bin/k3s'));
  chmodSync(join(root, 'usr/local/bin/k3s'), 0o755);
  addDisks(root, ['3a1f0c2e-5b7d-4e8f-9a10-b2c3d4e5f601', '7c9e2d41-0a3b-4c5d-8e6f-a1b2c3d4e5f6']);
}

/** The example's Longhorn disks: real ext4 filesystems in files, linked where udev puts them. */
export function addDisks(root: string, uuids: string[]): void {
  mkdirSync(join(root, 'dev/disk/by-uuid'), { recursive: true });
  mkdirSync(join(root, 'disks'), { recursive: true });
  for (const uuid of uuids) {
    const img = join(root, 'disks', `${uuid}.img`);
    execFileSync('truncate', ['-s', '4M', img]);
    execFileSync('mkfs.ext4', ['-q', '-F', '-U', uuid, img], { stdio: 'ignore' });
    symlinkSync(img, join(root, 'dev/disk/by-uuid', uuid));
  }
}

/** path → sha256 (files), link target (symlinks), mode (dirs) for every entry under root, except `skip` dirs. */
export function hashTree(root: string, skip: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const rel = relative(root, p);
      if (skip.some((s) => rel === s || rel.startsWith(`${s}/`))) continue;
      const st = lstatSync(p);
      const meta = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isSymbolicLink()) out[rel] = `link ${readlinkSync(p)}`;
      else if (st.isDirectory()) {
        out[rel] = `dir ${meta}`;
        walk(p);
      } else out[rel] = `${meta} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
    }
  };
  walk(root);
  return out;
}

/** A fresh temp root per test (a Debian-like sysroot unless debian: false), removed after it. */
export function useSysroot(prefix: string, set: (root: string) => void, opts: { debian?: boolean } = {}): void {
  let cleanup = () => {};
  beforeEach(() => {
    const t = tempRoot(prefix);
    cleanup = t.cleanup;
    if (opts.debian !== false) makeSysroot(t.root);
    set(t.root);
  });
  afterEach(() => cleanup());
}
