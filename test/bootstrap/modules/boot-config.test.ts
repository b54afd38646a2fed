import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BEGIN, END, bootConfigModule, editCmdline, editConfig } from '../../../src/bootstrap/modules/boot-config.js';
import { bootSchema } from '../../../src/manifest/boot.js';
import { convergeLoop, makeContext } from '../../helpers/context.js';
import { useSysroot } from '../sysroot.js';

let root: string;
useSysroot('hhk-boot-', (r) => {
  root = r;
  mkdirSync(join(r, 'boot/firmware'), { recursive: true });
});

/** Raspberry Pi OS's config.txt, shortened: comments, a filter section, the [all] tail. */
const VENDOR = `# For more options and information see
# http://rptl.io/configtxt
dtparam=audio=on
camera_auto_detect=1

[cm4]
otg_mode=1

[all]
arm_boost=1
`;
const CMDLINE = 'console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait quiet\n';

const poe = {
  config: {
    all: ['dtoverlay=rpi-poe-plus', 'dtparam=poe_fan_temp0=50000', 'dtparam=poe_fan_temp1=60000'],
    pi5: ['usb_max_current_enable=1'],
  },
  cmdline: { add: ['cgroup_memory=1', 'cgroup_enable=memory'], remove: ['quiet'] },
};

const put = (file: string, text: string) => writeFileSync(join(root, 'boot/firmware', file), text);
const get = (file: string) => readFileSync(join(root, 'boot/firmware', file), 'utf8');

describe('boot_config module: config.txt block and cmdline.txt words', () => {
  it('check → change, apply, check → ok; unmanaged lines and comments kept, managed lines marked; reboot required', async () => {
    put('config.txt', VENDOR);
    put('cmdline.txt', CMDLINE);
    const ctx = makeContext({ root });
    const first = await convergeLoop(bootConfigModule, poe, ctx);
    expect(first.reason).toMatch(/reboot required/);
    expect(get('config.txt')).toBe(
      `${VENDOR}${BEGIN}\n[all]\ndtoverlay=rpi-poe-plus\ndtparam=poe_fan_temp0=50000\ndtparam=poe_fan_temp1=60000\n[pi5]\nusb_max_current_enable=1\n[all]\n${END}\n`,
    );
    expect(get('cmdline.txt')).toBe('console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait cgroup_memory=1 cgroup_enable=memory\n');
    // No temp file left on the partition.
    expect(readdirSync(join(root, 'boot/firmware')).sort()).toEqual(['cmdline.txt', 'config.txt']);
  });

  it('apply reports the files that need a reboot as a fact', async () => {
    put('config.txt', VENDOR);
    put('cmdline.txt', CMDLINE);
    const ctx = makeContext({ root });
    const args = bootSchema.parse(poe);
    const c = await bootConfigModule.check(args, ctx);
    const r = await bootConfigModule.apply!(args, ctx, c as never);
    expect(r).toEqual({ facts: { rebootRequired: ['/boot/firmware/config.txt', '/boot/firmware/cmdline.txt'] } });
  });

  it('a changed manifest rewrites only the block; an empty config removes it, leaving the file as it was', async () => {
    put('config.txt', VENDOR);
    await convergeLoop(bootConfigModule, { config: poe.config }, makeContext({ root }));
    await convergeLoop(bootConfigModule, { config: { all: ['dtoverlay=rpi-poe-plus', 'dtparam=poe_fan_temp0=45000'] } }, makeContext({ root }));
    expect(get('config.txt')).toBe(`${VENDOR}${BEGIN}\n[all]\ndtoverlay=rpi-poe-plus\ndtparam=poe_fan_temp0=45000\n${END}\n`);
    await convergeLoop(bootConfigModule, { config: {} }, makeContext({ root }));
    expect(get('config.txt')).toBe(VENDOR);
  });

  it('--check changes nothing', async () => {
    put('config.txt', VENDOR);
    put('cmdline.txt', CMDLINE);
    const c = await bootConfigModule.check(bootSchema.parse(poe), makeContext({ root, checkMode: true }));
    expect(c.status).toBe('change');
    expect([get('config.txt'), get('cmdline.txt')]).toEqual([VENDOR, CMDLINE]);
  });

  it('fails, changing nothing, without the partition, without cmdline.txt, or with a broken block', async () => {
    const ctx = makeContext({ root });
    const other = bootSchema.parse({ ...poe, path: '/boot/nope' });
    expect(await bootConfigModule.check(other, ctx)).toMatchObject({ status: 'fail', reason: 'no boot partition at /boot/nope (is it mounted?)' });
    put('config.txt', VENDOR);
    expect(await bootConfigModule.check(bootSchema.parse(poe), ctx)).toMatchObject({ status: 'fail', reason: 'no /boot/firmware/cmdline.txt' });
    put('config.txt', `${VENDOR}${BEGIN}\ndtparam=x=1\n`);
    expect(await bootConfigModule.check(bootSchema.parse({ config: poe.config }), ctx)).toMatchObject({ status: 'fail', reason: expect.stringMatching(/block is broken/) });
    expect(get('config.txt')).toBe(`${VENDOR}${BEGIN}\ndtparam=x=1\n`);
  });

  it('editConfig keeps CRLF files CRLF and adds a final newline before the block', () => {
    const r = editConfig('a=1\r\nb=2', { all: ['c=3'] });
    expect(r).toEqual({ text: `a=1\r\nb=2\r\n${BEGIN}\r\n[all]\r\nc=3\r\n${END}\r\n` });
  });

  it('editCmdline: removes exact words and bare keys, appends missing words, refuses two lines', () => {
    expect(editCmdline('a b=1 console=x console=y quiet\n', { add: ['b=1', 'c=2'], remove: ['console', 'quiet'] })).toEqual({ text: 'a b=1 c=2\n', words: ['a', 'b=1', 'c=2'] });
    expect(editCmdline('a b=1', { add: [], remove: ['b=2'] })).toEqual({ text: 'a b=1', words: ['a', 'b=1'] });
    expect(editCmdline('a\nb\n', { add: ['c'], remove: [] })).toEqual({ error: 'it has more than one line: the firmware reads one' });
  });

  it.each([
    [{ config: { all: ['dtoverlay'] } }, 'config.all.0', /key=value/],
    [{ config: { all: ['a=1\nb=2'] } }, 'config.all.0', /control characters/],
    [{ config: { '[pi4]': ['a=1'] } }, 'config.[pi4]', /without brackets/],
    [{ config: { all: ['arm_boost=1', 'arm_boost=0'] } }, 'config.all.1', /sets arm_boost again \(also config.all.0\)/],
    [{ config: { all: ['dtparam=poe_fan_temp0=1', 'dtparam=poe_fan_temp0=2'] } }, 'config.all.1', /dtparam poe_fan_temp0 again/],
    [{ cmdline: { add: ['root=/dev/sda2'] } }, 'cmdline.add.0', /root= is set by the image build/],
    [{ cmdline: { add: ['two words'] } }, 'cmdline.add.0', /one word/],
    [{ cmdline: { add: ['console=tty1'], remove: ['console'] } }, 'cmdline.add.0', /also removed by cmdline.remove.0/],
    [{ path: 'boot' }, 'path', /absolute/],
  ])('schema: %j → error at %s', (input, path, message) => {
    const r = bootSchema.safeParse(input);
    expect(r.success).toBe(false);
    const issue = r.error!.issues.find((i) => i.path.join('.') === path);
    expect(issue, JSON.stringify(r.error!.issues)).toBeDefined();
    expect(issue!.message).toMatch(message);
  });

  it('two dtoverlay lines are two overlays, not a duplicate', () => {
    expect(bootSchema.safeParse({ config: { all: ['dtoverlay=i2c-gpio,bus=3', 'dtoverlay=i2c-gpio,bus=4'] } }).success).toBe(true);
  });
});
