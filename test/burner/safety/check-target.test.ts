import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkTarget } from '../../../src/burner/safety/check-target.js';
import { REFUSALS, TargetRefusedError, type RefusalCode } from '../../../src/burner/safety/errors.js';
import { isRoot, MIB, tempDir } from '../fixtures.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).reverse().forEach((c) => c()));
function dir(): string {
  const t = tempDir('metis-safety-');
  cleanups.push(t.cleanup);
  return t.dir;
}
function loop(file: string, ...extra: string[]): string {
  const dev = execFileSync('losetup', ['-f', '--show', ...extra, file], { encoding: 'utf8' }).trim();
  cleanups.push(() => execFileSync('losetup', ['-d', dev]));
  return dev;
}

async function refusal(target: string, image: string, imageSize: number): Promise<TargetRefusedError> {
  const e = await checkTarget(target, { image, imageSize }).then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(TargetRefusedError);
  return e as TargetRefusedError;
}

function expectCode(e: TargetRefusedError, code: RefusalCode): void {
  expect(e.code, e.message).toBe(code);
  expect(e.exitCode).toBe(REFUSALS[code]);
}

describe('checkTarget on image files', () => {
  it('accepts a new file and an existing writable one', async () => {
    const d = dir();
    writeFileSync(join(d, 'src.img'), Buffer.alloc(MIB));
    expect((await checkTarget(join(d, 'new.img'), { image: join(d, 'src.img'), imageSize: MIB })).kind).toBe('file');
    writeFileSync(join(d, 'old.img'), 'x');
    expect((await checkTarget(join(d, 'old.img'), { image: join(d, 'src.img'), imageSize: MIB })).sizeBytes).toBe(1);
  });

  it('refuses the source image itself, even through a hard link', async () => {
    const d = dir();
    const src = join(d, 'src.img');
    writeFileSync(src, Buffer.alloc(MIB));
    execFileSync('ln', [src, join(d, 'alias.img')]);
    expectCode(await refusal(join(d, 'alias.img'), src, MIB), 'E_TARGET_CONTAINS_SOURCE');
  });

  it('refuses a target in a directory that does not exist, and a character device', async () => {
    const d = dir();
    writeFileSync(join(d, 'src.img'), Buffer.alloc(MIB));
    expectCode(await refusal(join(d, 'nope/x.img'), join(d, 'src.img'), MIB), 'E_TARGET_MISSING');
    expectCode(await refusal('/dev/null', join(d, 'src.img'), MIB), 'E_TARGET_NOT_A_DISK');
  });

  it('distinct exit codes for distinct refusals', () => {
    expect(new Set(Object.values(REFUSALS)).size).toBe(Object.keys(REFUSALS).length);
  });
});

describe.skipIf(!isRoot)('checkTarget on loop devices', () => {
  if (!isRoot) console.warn('skip: needs root: loop devices');

  function source(d: string, mib = 8): string {
    const src = join(d, 'src.img');
    writeFileSync(src, Buffer.alloc(mib * MIB, 1));
    return src;
  }
  const unchanged = (file: string, before: Buffer) => expect(readFileSync(file).equals(before)).toBe(true);

  it('accepts a free loop device big enough', async () => {
    const d = dir();
    const src = source(d);
    const card = join(d, 'card.img');
    writeFileSync(card, Buffer.alloc(16 * MIB, 7));
    const dev = loop(card);
    const info = await checkTarget(dev, { image: src, imageSize: 8 * MIB });
    expect(info).toMatchObject({ kind: 'block', sizeBytes: 16 * MIB, size: 16 * MIB, isBlockDevice: true, path: dev });
    unchanged(card, Buffer.alloc(16 * MIB, 7));
  });

  it('refuses a loop device whose backing file is the source image', async () => {
    const d = dir();
    const src = source(d);
    expectCode(await refusal(loop(src), src, 8 * MIB), 'E_TARGET_CONTAINS_SOURCE');
  });

  it('refuses a loop device smaller than the image', async () => {
    const d = dir();
    const src = source(d);
    const card = join(d, 'small.img');
    writeFileSync(card, Buffer.alloc(4 * MIB, 7));
    const e = await refusal(loop(card), src, 8 * MIB);
    expectCode(e, 'E_TARGET_TOO_SMALL');
    expect(e.message).toMatch(/4194304 bytes, the image needs 8388608/);
    unchanged(card, Buffer.alloc(4 * MIB, 7));
  });

  it('refuses a read-only loop device', async () => {
    const d = dir();
    const src = source(d);
    const card = join(d, 'ro.img');
    writeFileSync(card, Buffer.alloc(16 * MIB, 7));
    chmodSync(card, 0o444);
    expectCode(await refusal(loop(card, '-r'), src, 8 * MIB), 'E_TARGET_READ_ONLY');
  });

  it('refuses a disk with a mounted ext4 partition, directly and via the other loop over the same file', async () => {
    const d = dir();
    const src = source(d);
    const card = join(d, 'card.img');
    writeFileSync(card, Buffer.alloc(24 * MIB));
    execFileSync('mkfs.ext4', ['-q', '-F', '-E', `offset=${MIB}`, card, '16M']);
    const whole = loop(card);
    const part = loop(card, '-o', String(MIB), '--sizelimit', String(16 * MIB));
    const mnt = join(d, 'mnt');
    mkdirSync(mnt);
    execFileSync('mount', [part, mnt]);
    cleanups.push(() => execFileSync('umount', [mnt]));
    const e = await refusal(whole, src, 8 * MIB);
    expectCode(e, 'E_TARGET_MOUNTED');
    expect(e.message).toContain(mnt);
    expectCode(await refusal(part, src, 8 * MIB), 'E_TARGET_MOUNTED');
  });

  it('refuses the disk holding / (found by its real MAJ:MIN; nothing is opened for writing)', async () => {
    const d = dir();
    const src = source(d, 1);
    const root = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')).find((f) => f[4] === '/');
    // The whole disk: the root's own device, or its parent when / is on a partition.
    const sys = realpathSync(`/sys/dev/block/${root![2]}`);
    const diskDev = readFileSync(join(existsSync(join(sys, 'partition')) ? join(sys, '..') : sys, 'dev'), 'utf8').trim();
    const [maj, min] = diskDev.split(':');
    // A private device node for the same MAJ:MIN, so the test needs no knowledge of /dev naming.
    const node = join(d, 'rootdisk');
    execFileSync('mknod', [node, 'b', maj!, min!]);
    const e = await refusal(node, src, MIB);
    expectCode(e, 'E_TARGET_SYSTEM_DISK');
    expect(e.message).toMatch(/holds this system's \//);
  });
});
