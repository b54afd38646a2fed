import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import type { NetworkConfig } from '../../manifest/schema.js';

import type { NetworkBackend } from '../facts/network.js';

export interface RenderedFile {
  dest: string;
  content: string;
  mode: number;
}

const HEADER = '# Managed by metis-bootstrap from the node manifest; local edits are reverted.\n';

export function networkdFiles(n: NetworkConfig): RenderedFile[] {
  const net = [
    HEADER,
    '[Match]',
    n.mac ? `MACAddress=${n.mac}` : `Name=${n.interface}`,
    '',
    '[Link]',
    'RequiredForOnline=yes',
    '',
    '[Network]',
    'DHCP=no',
    `IPv6AcceptRA=${n.ipv6 ? 'no' : 'yes'}`,
    `Address=${n.ipv4.address}`,
    ...(n.ipv4.gateway ? [`Gateway=${n.ipv4.gateway}`] : []),
    ...(n.ipv6 ? [`Address=${n.ipv6.address}`, ...(n.ipv6.gateway ? [`Gateway=${n.ipv6.gateway}`] : [])] : []),
    ...n.dns.map((d) => `DNS=${d}`),
    ...(n.searchDomains.length ? [`Domains=${n.searchDomains.join(' ')}`] : []),
    '',
  ].join('\n');
  const files = [{ dest: `/etc/systemd/network/10-metis-${n.interface}.network`, content: net, mode: 0o644 }];
  if (n.mac) {
    const link = [HEADER, '[Match]', `MACAddress=${n.mac}`, '', '[Link]', `Name=${n.interface}`, ''].join('\n');
    files.push({ dest: `/etc/systemd/network/10-metis-${n.interface}.link`, content: link, mode: 0o644 });
  }
  return files;
}

/** A stable connection UUID derived from the interface, so re-rendering never changes it. */
function connUuid(n: NetworkConfig): string {
  const h = createHash('sha256').update(`metis:${n.interface}:${n.mac ?? ''}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function networkManagerFiles(n: NetworkConfig): RenderedFile[] {
  const ipv4 = ['[ipv4]', 'method=manual', `address1=${n.ipv4.address}${n.ipv4.gateway ? `,${n.ipv4.gateway}` : ''}`];
  const v4dns = n.dns.filter((d) => !d.includes(':'));
  if (v4dns.length) ipv4.push(`dns=${v4dns.join(';')};`);
  if (n.searchDomains.length) ipv4.push(`dns-search=${n.searchDomains.join(';')};`);
  const ipv6 = n.ipv6
    ? ['[ipv6]', 'method=manual', `address1=${n.ipv6.address}${n.ipv6.gateway ? `,${n.ipv6.gateway}` : ''}`]
    : ['[ipv6]', 'method=auto'];
  const content = [
    HEADER.trimEnd(),
    '[connection]',
    `id=metis-${n.interface}`,
    `uuid=${connUuid(n)}`,
    'type=ethernet',
    `interface-name=${n.interface}`,
    'autoconnect=true',
    'autoconnect-priority=100',
    '',
    '[ethernet]',
    ...(n.mac ? [`mac-address=${n.mac.toUpperCase()}`] : []),
    '',
    ...ipv4,
    '',
    ...ipv6,
    '',
  ].join('\n');
  return [
    { dest: `/etc/NetworkManager/system-connections/metis-${n.interface}.nmconnection`, content, mode: 0o600 },
    // NetworkManager otherwise creates an in-memory DHCP "Wired connection" for any unconfigured NIC.
    { dest: '/etc/NetworkManager/conf.d/90-metis.conf', content: `${HEADER}[main]\nno-auto-default=*\n`, mode: 0o644 },
  ];
}

export function netplanFiles(n: NetworkConfig): RenderedFile[] {
  const eth: Record<string, unknown> = {};
  if (n.mac) Object.assign(eth, { match: { macaddress: n.mac }, 'set-name': n.interface });
  eth['dhcp4'] = false;
  eth['dhcp6'] = false;
  eth['addresses'] = [n.ipv4.address, ...(n.ipv6 ? [n.ipv6.address] : [])];
  const routes = [
    ...(n.ipv4.gateway ? [{ to: 'default', via: n.ipv4.gateway }] : []),
    ...(n.ipv6?.gateway ? [{ to: 'default', via: n.ipv6.gateway }] : []),
  ];
  if (routes.length) eth['routes'] = routes;
  if (n.dns.length || n.searchDomains.length) eth['nameservers'] = { addresses: n.dns, search: n.searchDomains };
  const doc = { network: { version: 2, renderer: 'networkd', ethernets: { [n.interface]: eth } } };
  return [{ dest: '/etc/netplan/60-metis.yaml', content: HEADER + stringify(doc, { lineWidth: 0 }), mode: 0o600 }];
}

export function renderNetwork(r: NetworkBackend, n: NetworkConfig): RenderedFile[] {
  return r === 'networkd' ? networkdFiles(n) : r === 'networkmanager' ? networkManagerFiles(n) : netplanFiles(n);
}
