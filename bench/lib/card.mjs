// The emulated SD card of the burn benches: a loop device on a backing file written once (so
// first-write allocation doesn't distort timings), throttled by cgroup-v1 blkio to 30 MB/s write
// and 90 MB/s read. `release()` removes the throttle and the loop device (safe to call twice, and
// from a signal handler); `fresh()` goes between timed runs.
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const WRITE_BPS = 31457280;
export const READ_BPS = 94371840;
const BLKIO = '/sys/fs/cgroup/blkio';
const sh = (cmd, args) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });

/** A throttled loop device of `mib` MiB backed by DIR/card.img. */
export function emulatedCard(dir, mib) {
  const backing = join(dir, 'card.img');
  sh('dd', ['if=/dev/zero', `of=${backing}`, 'bs=1M', `count=${mib}`, 'status=none']);
  let loop = sh('losetup', ['-f', '--show', backing]).trim();
  let devno = null;
  const release = () => {
    if (devno) for (const f of ['write_bps_device', 'read_bps_device']) spawnSync('sh', ['-c', `echo "${devno} 0" > ${BLKIO}/blkio.throttle.${f}`]);
    if (loop) spawnSync('losetup', ['-d', loop]);
    devno = loop = null;
  };
  try {
    devno = sh('lsblk', ['-dno', 'MAJ:MIN', loop]).trim();
    writeFileSync(`${BLKIO}/blkio.throttle.write_bps_device`, `${devno} ${WRITE_BPS}`);
    writeFileSync(`${BLKIO}/blkio.throttle.read_bps_device`, `${devno} ${READ_BPS}`);
  } catch (e) {
    release();
    throw e;
  }
  const dev = loop;
  return {
    loop: dev,
    describe: `emulated card ${dev} (${devno}): write ${WRITE_BPS / 1e6} MB/s, read ${(READ_BPS / 1e6).toFixed(1)} MB/s`,
    release,
    // Between runs: write back every dirty page first (a run must not pay for the previous one's
    // files, a pulled blob or an image file, being flushed while it is timed), drop the device's
    // cache, and pause so the throttle's time slice left over from the previous writer doesn't bill
    // the next one.
    fresh: () => {
      sh('sync', []);
      sh('blockdev', ['--flushbufs', dev]);
      sh('sleep', ['3']);
    },
  };
}
