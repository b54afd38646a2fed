import { mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stripIdentity } from '../../src/image/customize.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'metis-image-root-'));
  for (const d of ['etc/ssh', 'etc/iscsi', 'var/lib/dbus', 'var/lib/systemd', 'var/cache/apt/archives']) await mkdir(join(root, d), { recursive: true });
  await writeFile(join(root, 'etc/machine-id'), '0123456789abcdef0123456789abcdef\n');
  await symlink('/etc/machine-id', join(root, 'var/lib/dbus/machine-id'));
  await writeFile(join(root, 'etc/ssh/ssh_host_ed25519_key'), 'private');
  await writeFile(join(root, 'etc/ssh/ssh_host_ed25519_key.pub'), 'public');
  await writeFile(join(root, 'etc/ssh/sshd_config'), 'keep me');
  await writeFile(join(root, 'etc/iscsi/initiatorname.iscsi'), 'InitiatorName=iqn.1993-08.org.debian:01:build-host\n');
  await writeFile(join(root, 'var/lib/systemd/random-seed'), 'seed');
  await writeFile(join(root, 'var/cache/apt/archives/x.deb'), 'deb');
  await writeFile(join(root, 'etc/hostname'), 'build-host\n');
});
afterEach(() => rm(root, { recursive: true, force: true }));

describe('stripIdentity', () => {
  it('leaves nothing that makes one card differ from another', async () => {
    const lines: string[] = [];
    await stripIdentity(root, (l) => lines.push(l));
    expect(await readFile(join(root, 'etc/machine-id'), 'utf8')).toBe('');
    expect((await readdir(join(root, 'etc/ssh'))).sort()).toEqual(['sshd_config']);
    expect(await readFile(join(root, 'etc/iscsi/initiatorname.iscsi'), 'utf8')).toBe('GenerateName=yes\n');
    expect(await readdir(join(root, 'var/lib/systemd'))).toEqual([]);
    expect(await readdir(join(root, 'var/cache/apt/archives'))).toEqual(['partial']);
    expect(await readFile(join(root, 'etc/hostname'), 'utf8')).toBe('localhost\n');
    expect(lines.join('\n')).toContain('identity stripped');
  });

  it('removes a dbus machine-id that is a copy rather than the link to /etc/machine-id', async () => {
    await rm(join(root, 'var/lib/dbus/machine-id'));
    await writeFile(join(root, 'var/lib/dbus/machine-id'), '0123456789abcdef0123456789abcdef\n');
    await stripIdentity(root, () => {});
    expect(await readdir(join(root, 'var/lib/dbus'))).toEqual([]);
  });

  it("empties the build host's resolv.conf but keeps a vendor's link to its resolver stub", async () => {
    await writeFile(join(root, 'etc/resolv.conf'), 'nameserver 10.0.0.53\n');
    await stripIdentity(root, () => {});
    expect(await readFile(join(root, 'etc/resolv.conf'), 'utf8')).toBe('');
    await rm(join(root, 'etc/resolv.conf'));
    await symlink('../run/systemd/resolve/stub-resolv.conf', join(root, 'etc/resolv.conf'));
    await stripIdentity(root, () => {});
    expect(await readlink(join(root, 'etc/resolv.conf'))).toBe('../run/systemd/resolve/stub-resolv.conf');
  });
});
