import { execFileSync, spawn } from 'node:child_process';
import { access, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage } from '../../src/image/build.js';
import { fatUuid } from '../../src/image/customize.js';
import { classDiskIds } from '../../src/image/ids.js';
import { allPackages, imageSpecSchema, type ImageSpec } from '../../src/core/image-spec.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('skip: needs root: the vendor root is read through a read-only loop mount');

const VENDOR_CMDLINE = 'console=serial0,115200 console=tty1 root=PARTUUID=3d6c1b2a-02 rootfstype=ext4 fsck.repair=yes rootwait';
const sh = (cmd: string, args: string[], input?: string) =>
  execFileSync(cmd, args, { encoding: 'utf8', input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });

/** A Pi-OS-like vendor card: MBR, FAT32 firmware partition, ext4 root with its own identity. */
async function vendorImage(dir: string, spec: ImageSpec, arch: string): Promise<string> {
  const root = join(dir, 'vendor-root');
  for (const d of ['etc/ssh', 'etc/systemd/system', 'var/lib/dpkg', 'var/lib/dbus', 'boot/firmware', 'usr/bin']) await mkdir(join(root, d), { recursive: true });
  await writeFile(join(root, 'etc/os-release'), 'ID=debian\nVERSION_CODENAME=bookworm\n');
  await writeFile(join(root, 'etc/machine-id'), 'aa11bb22cc33dd44ee55ff6677889900\n');
  await writeFile(join(root, 'var/lib/dbus/machine-id'), 'aa11bb22cc33dd44ee55ff6677889900\n');
  await writeFile(join(root, 'etc/ssh/ssh_host_ed25519_key'), 'vendor private key');
  await writeFile(join(root, 'etc/hostname'), 'raspberrypi\n');
  await writeFile(join(root, 'etc/fstab'), 'PARTUUID=3d6c1b2a-01 /boot/firmware vfat defaults 0 2\nPARTUUID=3d6c1b2a-02 / ext4 defaults,noatime 0 1\n');
  await symlink('../run/systemd/resolve/stub-resolv.conf', join(root, 'etc/resolv.conf'));
  await writeFile(join(root, 'usr/bin/vendor-tool'), 'tool');
  const pkgs = [...allPackages(spec), 'dpkg'].map((p) =>
    `Package: ${p}\nStatus: install ok installed\nArchitecture: ${arch}\nVersion: ${p === 'nodejs' ? '18.20.4+dfsg-1~deb12u3' : '1.0'}\n`);
  await writeFile(join(root, 'var/lib/dpkg/status'), pkgs.join('\n'));
  const boot = join(dir, 'vendor-boot');
  await mkdir(join(boot, 'overlays'), { recursive: true });
  await writeFile(join(boot, 'config.txt'), 'arm_64bit=1\ndtoverlay=vc4-kms-v3d\n');
  await writeFile(join(boot, 'cmdline.txt'), `${VENDOR_CMDLINE}\n`);
  await writeFile(join(boot, 'kernel8.img'), Buffer.alloc(300_000, 7));
  await writeFile(join(boot, 'overlays/vc4-kms-v3d.dtbo'), 'dtbo');
  const img = join(dir, 'vendor.img');
  sh('truncate', ['-s', '200M', img]);
  sh('sfdisk', ['-q', '--no-reread', '--no-tell-kernel', img], 'label: dos\nlabel-id: 0x3d6c1b2a\nstart=8192, size=131072, type=c\nstart=139264, type=83\n');
  sh('mkfs.vfat', ['-F', '32', '-s', '1', '--offset', '8192', img, String(64 * 1024)]);
  sh('mcopy', ['-s', '-i', `${img}@@${8192 * 512}`, join(boot, 'config.txt'), join(boot, 'cmdline.txt'), join(boot, 'kernel8.img'), join(boot, 'overlays'), '::/']);
  sh('mkfs.ext4', ['-q', '-F', '-d', root, '-E', `offset=${139264 * 512}`, img, `${200 - 68}M`]);
  sh('xz', ['-0', '-T0', '-k', img]);
  return `${img}.xz`;
}

describe.skipIf(!isRoot)('image build on a vendor base (real loop mount, mtools, mkfs; fsck and debugfs as judges)', () => {
  let dir: string;
  let base: string;
  const spec = imageSpecSchema.parse({ name: 'vendor-unit', arch: 'amd64', packages: ['open-iscsi'], bootSizeMiB: 64 });
  const payload = () => ({ bundle: join(dir, 'bundle.js'), unitsDir: resolve('systemd'), overlays: [], enable: [] });
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'metis-vendor-build-'));
    await writeFile(join(dir, 'bundle.js'), '#!/usr/bin/env node\n');
    base = await vendorImage(dir, spec, 'amd64');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('keeps the vendor firmware and root, installs Metis, strips identity, points cmdline root= at the new disk', async () => {
    const out = join(dir, 'out/vendor-unit.img');
    const r = await buildImage({ spec, out, cacheDir: join(dir, 'cache'), payload: payload(), base, log: () => {} });
    expect(r.installed).toEqual([]);
    const ids = classDiskIds(spec.name);
    const pt = JSON.parse(sh('sfdisk', ['-J', out])).partitiontable;
    expect(pt.id).toBe(`0x${ids.bootSerial}`);
    const fatOff = pt.partitions[0].start * 512;
    const rootAt = `${out}?offset=${pt.partitions[1].start * 512}`;
    // FAT: the vendor's files, untouched, and a clean filesystem.
    const fat = join(dir, 'fat.bin');
    sh('dd', [`if=${out}`, `of=${fat}`, 'bs=512', `skip=${pt.partitions[0].start}`, `count=${pt.partitions[0].size}`, 'status=none']);
    sh('fsck.fat', ['-n', fat]);
    expect(sh('mtype', ['-i', `${out}@@${fatOff}`, '::/config.txt'])).toBe('arm_64bit=1\ndtoverlay=vc4-kms-v3d\n');
    expect(sh('mtype', ['-i', `${out}@@${fatOff}`, '::/overlays/vc4-kms-v3d.dtbo'])).toBe('dtbo');
    expect(sh('mdir', ['-b', '-i', `${out}@@${fatOff}`, '::/'])).toContain('kernel8.img');
    expect(sh('mtype', ['-i', `${out}@@${fatOff}`, '::/cmdline.txt']).trim()).toBe(VENDOR_CMDLINE.replace('3d6c1b2a-02', `${ids.bootSerial}-02`));
    // ext4: clean, the vendor's tree plus Metis, no identity left.
    sh('e2fsck', ['-fn', rootAt]);
    const cat = (p: string) => sh('debugfs', ['-R', `cat ${p}`, rootAt]);
    expect(cat('/usr/bin/vendor-tool')).toBe('tool');
    expect(cat('/usr/local/bin/metis-bootstrap')).toBe('#!/usr/bin/env node\n');
    // The units' ExecStart wrapper and its snapshot entry, as in the repo.
    expect(cat('/usr/local/lib/metis/metis-bootstrap-start')).toBe(await readFile('systemd/metis-bootstrap-start', 'utf8'));
    expect(cat('/usr/local/lib/metis/metis-bootstrap-snapshot.js')).toBe(await readFile('systemd/metis-bootstrap-snapshot.js', 'utf8'));
    expect(sh('debugfs', ['-R', 'stat /usr/local/lib/metis/metis-bootstrap-start', rootAt])).toMatch(/Mode:\s+0755/);
    expect(cat('/etc/machine-id')).toBe('');
    expect(cat('/etc/hostname')).toBe('localhost\n');
    expect(sh('debugfs', ['-R', 'ls /etc/ssh', rootAt])).not.toContain('ssh_host_');
    expect(sh('debugfs', ['-R', 'ls /var/lib/dbus', rootAt])).not.toContain('machine-id');
    expect(sh('debugfs', ['-R', 'stat /etc/resolv.conf', rootAt])).toContain('Type: symlink');
    // The boot run is the early unit (both phases, one process); the full unit only runs from its timer.
    expect(sh('debugfs', ['-R', 'ls /etc/systemd/system/sysinit.target.wants', rootAt])).toContain('metis-bootstrap-early.service');
    expect(sh('debugfs', ['-R', 'ls /etc/systemd/system/timers.target.wants', rootAt])).toContain('metis-bootstrap.timer');
    expect(sh('debugfs', ['-R', 'ls /etc/systemd/system/multi-user.target.wants', rootAt])).not.toContain('metis-bootstrap.service');
    expect(cat('/etc/systemd/system/metis-online.target')).toContain('After=network-online.target local-fs.target');
    const fstab = cat('/etc/fstab');
    expect(fstab).toContain(`UUID=${ids.rootUuid} / ext4`);
    expect(fstab).toContain(`UUID=${fatUuid(ids.bootSerial)} /boot/firmware vfat`);
    expect(fstab).not.toContain('PARTUUID=3d6c1b2a');
    expect((await readFile(`${out}.sha256`, 'utf8')).split(' ')[0]).toBe(r.sha256);
    expect(sh('losetup', ['-a'])).not.toContain(dir);
  });

  it.each([
    ['a base of another arch', 'arm64', undefined, 'is amd64, the class is arm64'],
    ['a missing base', 'amd64', 'missing.img.xz', 'cannot read it'],
  ])('refuses %s with E_BASE and writes no image', async (_, arch, baseName, msg) => {
    const out = join(dir, `refused-${arch}.img`);
    const s = { ...spec, arch: arch as ImageSpec['arch'] };
    const from = baseName ? join(dir, baseName) : base;
    await expect(buildImage({ spec: s, out, cacheDir: join(dir, 'cache'), payload: payload(), base: from, log: () => {} })).rejects.toThrow(msg);
    await expect(access(out)).rejects.toThrow();
    await expect(access(`${out}.partial`)).rejects.toThrow();
  });

  it('SIGTERM while the vendor root is being copied stops cp, unmounts, detaches, removes the work dir (exit 143)', async () => {
    // A root big enough that the copy is still running when the signal lands.
    const big = join(dir, 'big');
    await mkdir(join(big, 'root/var/lib/dpkg'), { recursive: true });
    execFileSync('dd', ['if=/dev/urandom', `of=${join(big, 'root/blob')}`, 'bs=1M', 'count=192', 'status=none']);
    await writeFile(join(big, 'root/var/lib/dpkg/status'), '');
    const img = join(big, 'big.img');
    sh('truncate', ['-s', '300M', img]);
    sh('sfdisk', ['-q', '--no-reread', '--no-tell-kernel', img], 'label: dos\nstart=2048, type=83\n');
    sh('mkfs.ext4', ['-q', '-F', '-d', join(big, 'root'), '-E', `offset=${2048 * 512}`, img, '290M']);
    await writeFile(join(big, 'class.yaml'), 'name: vendor-sig\narch: amd64\n');
    const out = join(big, 'out.img');
    const child = spawn(process.execPath, ['dist/metis.js', 'image', 'build', join(big, 'class.yaml'), '--base', img,
      '--bundle', join(dir, 'bundle.js'), '--units', 'systemd', '--out', out, '--cache', join(big, 'cache')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      if (!sent && stderr.includes('$ cp -a')) {
        sent = true;
        child.kill('SIGTERM');
      }
    });
    const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    const work = /ro,noload \S+ (\/\S+)\/base-root/.exec(stderr)?.[1];
    expect(sent).toBe(true);
    expect(code).toBe(143);
    expect(stderr).toContain('interrupted (SIGTERM)');
    expect(work).toMatch(/metis-image-/);
    expect(sh('losetup', ['-a'])).not.toContain(img);
    expect(await readFile('/proc/mounts', 'utf8')).not.toContain(work);
    await expect(access(work!)).rejects.toThrow();
    await expect(access(`${out}.partial`)).rejects.toThrow();
  });

  it("a class cmdline replaces the vendor's, root= still by PARTUUID", async () => {
    const out = join(dir, 'out/vendor-cmdline.img');
    const s = { ...spec, cmdline: 'console=tty1 rootwait quiet' };
    const r = await buildImage({ spec: s, out, cacheDir: join(dir, 'cache'), payload: payload(), base, log: () => {} });
    expect(r.cmdline).toBe(`root=PARTUUID=${classDiskIds(spec.name).bootSerial}-02 console=tty1 rootwait quiet`);
  });
});
