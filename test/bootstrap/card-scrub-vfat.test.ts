import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { scrubCard, scrubText } from '../../src/bootstrap/card-scrub.js';
import { manifestSecrets, parseManifest } from '../../src/manifest/load.js';
import { exampleManifestText } from '../helpers/context.js';

const isRoot = process.getuid?.() === 0;
const vfat = readFileSync('/proc/filesystems', 'utf8').includes('vfat');
const why = !isRoot ? 'not root (mount needs it)' : !vfat ? 'this kernel has no vfat driver (the QEMU e2e covers the scrub on a real card)' : '';
if (why) console.log(`card scrub on vfat: skipped: ${why}`);
const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).reverse().forEach((c) => c()));

describe.skipIf(Boolean(why))('the card scrub on a real vfat mount (needs root and a vfat driver; skipped otherwise, with the reason printed)', () => {
  it('leaves no secret anywhere in the partition bytes, the scrubbed manifest in place, and fsck.fat clean', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'metis-vfat-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const img = join(dir, 'boot.img');
    execFileSync('mkfs.vfat', ['-F', '32', '-s', '1', '-C', img, '34000'], { stdio: 'ignore' });
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    execFileSync('mount', ['-o', 'loop', '-t', 'vfat', img, mnt]);
    let mounted = true;
    const umount = () => {
      if (mounted) execFileSync('umount', [mnt]);
      mounted = false;
    };
    cleanups.push(umount);
    mkdirSync(join(mnt, 'metis'));
    const card = join(mnt, 'metis/node.yaml');
    writeFileSync(card, exampleManifestText);
    execFileSync('sync');
    const secrets = manifestSecrets(parseManifest(exampleManifestText, 'node.yaml').manifest);
    await scrubCard({ card, stateDir: join(dir, 'state'), source: exampleManifestText, secrets });
    umount();
    const bytes = readFileSync(img);
    for (const s of secrets) expect(bytes.includes(Buffer.from(s.value)), `${s.path} is still in the partition's bytes`).toBe(false);
    const onCard = execFileSync('mtype', ['-i', img, '::/metis/node.yaml'], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } }).toString();
    expect(onCard).toBe(scrubText(exampleManifestText, secrets.map((s) => s.value)));
    const fsck = spawnSync('fsck.fat', ['-n', img], { encoding: 'utf8' });
    expect(fsck.status, fsck.stdout + fsck.stderr).toBe(0);
  });
});
