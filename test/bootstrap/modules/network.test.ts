import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { networkModule } from '../../../src/bootstrap/modules/network.js';
import { convergeLoop, exampleManifest, makeContext, tempRoot } from '../../helpers/context.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));
function root(files: Record<string, string> = {}): string {
  const t = tempRoot();
  cleanups.push(t.cleanup);
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(t.root, p, '..'), { recursive: true });
    writeFileSync(join(t.root, p), text);
  }
  return t.root;
}
const config = (over: Record<string, unknown> = {}) => ({ ...exampleManifest().network, ...over });

describe('network', () => {
  it('networkd: writes 10-metis-end0.network and disables the image’s DHCP file for end0', async () => {
    const r = root({ 'etc/systemd/network/05-dhcp.network': '[Match]\nName=e*\n[Network]\nDHCP=yes\n', 'etc/systemd/network/20-wlan.network': '[Match]\nName=wlan0\n' });
    const first = await convergeLoop(networkModule, { config: config({ renderer: 'networkd' }) }, makeContext({ root: r }));
    const net = readFileSync(join(r, 'etc/systemd/network/10-metis-end0.network'), 'utf8');
    expect(net).toContain('Name=end0');
    expect(net).toContain('Address=192.168.22.13/24');
    expect(net).toContain('Gateway=192.168.22.1');
    expect(net).toContain('DNS=1.1.1.1');
    expect(net).toContain('Domains=lab.example');
    expect(existsSync(join(r, 'etc/systemd/network/05-dhcp.network'))).toBe(false);
    expect(existsSync(join(r, 'etc/systemd/network/05-dhcp.network.metis-disabled'))).toBe(true);
    expect(existsSync(join(r, 'etc/systemd/network/20-wlan.network'))).toBe(true);
    expect(first.diff?.find((d) => d.target.endsWith('05-dhcp.network'))?.after).toMatch(/disabled/);
  });

  it('networkd matched by MAC: a .link names the NIC end0', async () => {
    const r = root();
    await convergeLoop(networkModule, { config: config({ renderer: 'networkd', mac: 'dc:a6:32:01:02:03' }) }, makeContext({ root: r }));
    expect(readFileSync(join(r, 'etc/systemd/network/10-metis-end0.link'), 'utf8')).toMatch(/MACAddress=dc:a6:32:01:02:03[\s\S]*Name=end0/);
  });

  it('auto picks NetworkManager when installed: 0600 keyfile, no-auto-default, conflicting profile disabled', async () => {
    const r = root({
      'usr/sbin/NetworkManager': '',
      'etc/NetworkManager/NetworkManager.conf': '[main]\n',
      'etc/NetworkManager/system-connections/Wired.nmconnection': '[connection]\nid=Wired\ninterface-name=end0\n[ipv4]\nmethod=auto\n',
    });
    await convergeLoop(networkModule, { config: config() }, makeContext({ root: r }));
    const file = join(r, 'etc/NetworkManager/system-connections/metis-end0.nmconnection');
    expect(readFileSync(file, 'utf8')).toContain('address1=192.168.22.13/24,192.168.22.1');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(r, 'etc/NetworkManager/conf.d/90-metis.conf'), 'utf8')).toContain('no-auto-default=*');
    expect(existsSync(join(r, 'etc/NetworkManager/system-connections/Wired.nmconnection.metis-disabled'))).toBe(true);
  });

  it('auto picks netplan when present, and disables cloud-init’s DHCP plan for end0', async () => {
    const r = root({
      'usr/sbin/netplan': '',
      'etc/netplan/50-cloud-init.yaml': 'network:\n  version: 2\n  ethernets:\n    end0:\n      dhcp4: true\n',
    });
    await convergeLoop(networkModule, { config: config() }, makeContext({ root: r }));
    const plan = readFileSync(join(r, 'etc/netplan/60-metis.yaml'), 'utf8');
    expect(plan).toContain('- 192.168.22.13/24');
    expect(plan).toContain('via: 192.168.22.1');
    expect(existsSync(join(r, 'etc/netplan/50-cloud-init.yaml.metis-disabled'))).toBe(true);
  });
});
