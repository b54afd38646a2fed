import { promises as fsp } from 'node:fs';

/**
 * Facts about the running kernel and its manager, read from /proc and /run (no processes). They
 * describe the machine this process runs on, so they are only asked for on a live run.
 */

const readTrim = (p: string) => fsp.readFile(p, 'utf8').then((s) => s.trim(), () => null);

/** The kernel's hostname now (not /etc/hostname). */
export function kernelHostname(proc = '/proc'): Promise<string | null> {
  return readTrim(`${proc}/sys/kernel/hostname`);
}

/** systemd writes /run/systemd/container in containers (nspawn, docker…): the disk under / is the host's. */
export function containerName(run = '/run'): Promise<string | null> {
  return readTrim(`${run}/systemd/container`);
}

/**
 * Target IQNs of the iSCSI sessions the kernel holds: what `iscsiadm -m session` lists, read from
 * /sys/class/iscsi_session/session*\/targetname without a process. No such class (the iSCSI
 * transport module not loaded) means no session.
 */
export async function iscsiSessionTargets(sys = '/sys'): Promise<string[]> {
  const dir = `${sys}/class/iscsi_session`;
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  const targets = await Promise.all(names.map((n) => readTrim(`${dir}/${n}/targetname`)));
  return targets.filter((t): t is string => !!t);
}
