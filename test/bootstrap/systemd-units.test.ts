import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempRoot } from '../helpers/context.js';

const UNITS = join(process.cwd(), 'systemd');
const HOST_UNITS = '/lib/systemd/system';
const canVerify = spawnSync('systemd-analyze', ['--version']).status === 0 && existsSync(join(HOST_UNITS, 'sysinit.target'));
if (!canVerify) console.warn('skip: systemd-analyze verify: needs the Debian systemd package (its units in /lib/systemd/system)');

function directives(unit: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of readFileSync(join(UNITS, unit), 'utf8').split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) out.set(m[1]!, [...(out.get(m[1]!) ?? []), ...m[2]!.split(/\s+/).filter(Boolean)]);
  }
  return out;
}

describe('systemd units', () => {
  const { root, cleanup } = tempRoot('metis-units-');
  afterAll(() => cleanup());

  it.skipIf(!canVerify)('pass systemd-analyze verify without a warning', () => {
    cpSync(HOST_UNITS, join(root, 'lib/systemd/system'), { recursive: true });
    mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
    const units = readdirSync(UNITS).filter((u) => /\.(service|timer|target)$/.test(u));
    for (const u of units) copyFileSync(join(UNITS, u), join(root, 'etc/systemd/system', u));
    // ExecStart's wrapper, as the image installs it (src/image/customize.ts).
    mkdirSync(join(root, 'usr/local/lib/metis'), { recursive: true });
    copyFileSync(join(UNITS, 'metis-bootstrap-start'), join(root, 'usr/local/lib/metis/metis-bootstrap-start'));
    chmodSync(join(root, 'usr/local/lib/metis/metis-bootstrap-start'), 0o755);
    // metis-ssh-hostkeys.service's ExecStart, as Debian's openssh-client installs it in the image.
    mkdirSync(join(root, 'usr/bin'), { recursive: true });
    copyFileSync('/usr/bin/ssh-keygen', join(root, 'usr/bin/ssh-keygen'));
    chmodSync(join(root, 'usr/bin/ssh-keygen'), 0o755);
    const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, ...units], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
  });

  it('the boot unit runs one process: early tasks before any network manager, READY=1, then the full converge', () => {
    const d = directives('metis-bootstrap-early.service');
    expect(d.get('DefaultDependencies')).toEqual(['no']);
    expect(d.get('Before')).toEqual(expect.arrayContaining(['network-pre.target', 'systemd-networkd.service', 'NetworkManager.service']));
    expect(d.get('Wants')).toContain('network-pre.target');
    expect(d.get('After')).toContain('local-fs.target');
    expect(d.get('ExecStart')).toEqual(['/usr/local/lib/metis/metis-bootstrap-start', '--boot']);
    // READY=1 is sent by systemd-notify, a child of the run.
    expect(d.get('Type')).toEqual(['notify']);
    expect(d.get('NotifyAccess')).toEqual(['all']);
    expect(d.get('RuntimeMaxSec')).toEqual(['1200']);
    expect(d.get('WantedBy')).toEqual(['sysinit.target']);
    // The boot's critical path gets the CPU first while the machine boots (docs/bootstrap.md, "Boot time").
    expect(d.get('StartupCPUWeight')).toEqual(['1000']);
    expect(d.get('Nice')).toEqual(['-5']);
  });

  it('the target the boot run waits for stands where the full unit stood: after the network and local mounts', () => {
    const d = directives('metis-online.target');
    expect(d.get('After')).toEqual(expect.arrayContaining(['network-online.target', 'local-fs.target']));
    expect(d.get('Wants')).toEqual(['network-online.target']);
  });

  it("a first boot's missing SSH host keys are made beside the boot: before sshd and metis-online.target, not holding up sysinit", () => {
    const d = directives('metis-ssh-hostkeys.service');
    expect(d.get('After')).toEqual(expect.arrayContaining(['local-fs.target', 'metis-bootstrap-early.service']));
    expect(d.get('Before')).toEqual(expect.arrayContaining(['ssh.service', 'metis-online.target']));
    expect(d.get('Before')).not.toContain('sysinit.target');
    expect(d.get('ConditionPathExists')).toEqual(['|!/etc/ssh/ssh_host_ed25519_key', '|!/etc/ssh/ssh_host_ecdsa_key', '|!/etc/ssh/ssh_host_rsa_key']);
    expect(d.get('ExecStart')).toEqual(['/usr/bin/ssh-keygen', '-A']);
    expect(d.get('WantedBy')).toEqual(['sysinit.target']);
  });

  it('full converge (timer, by hand) waits for the network; not started at boot; timer repeats with a random delay', () => {
    const d = directives('metis-bootstrap.service');
    expect(d.get('WantedBy')).toBeUndefined();
    expect(d.get('Also')).toEqual(['metis-bootstrap.timer']);
    expect(d.get('After')).toEqual(expect.arrayContaining(['network-online.target', 'metis-bootstrap-early.service']));
    expect(d.get('Wants')).toContain('network-online.target');
    expect(d.get('Type')).toEqual(['oneshot']);
    expect(d.get('ExecStart')).toEqual(['/usr/local/lib/metis/metis-bootstrap-start']);
    expect(d.get('SuccessExitStatus')).toEqual(['2']);
    const t = directives('metis-bootstrap.timer');
    expect(t.get('OnBootSec')).toEqual(['15min']);
    expect(t.get('OnUnitActiveSec')).toEqual(['15min']);
    expect(t.get('RandomizedDelaySec')).toEqual(['5min']);
    expect(t.get('Unit')).toEqual(['metis-bootstrap.service']);
  });
});
