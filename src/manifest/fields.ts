import { z } from 'zod';

/** Field types shared by the node manifest and the inventory, with the rules the field's owner sets. */

export const hostname = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a lowercase RFC 1123 label (a-z, 0-9, "-", 1-63 chars, no leading/trailing "-")');

export const ipv4 = z.ipv4({ message: 'must be an IPv4 address like 192.168.22.13' });
export const ipv6 = z.ipv6({ message: 'must be an IPv6 address' });
export const ipAddress = z.union([ipv4, ipv6], { message: 'must be an IPv4 or IPv6 address' });
export const cidrv4 = z.cidrv4({ message: 'must be IPv4 CIDR like 192.168.22.13/24' });
export const cidrv6 = z.cidrv6({ message: 'must be IPv6 CIDR like fd00::13/64' });
export const mac = z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i, 'must be a MAC address like dc:a6:32:01:02:03');

export const interfaceName = z.string().regex(/^[a-zA-Z0-9_.:-]{1,15}$/, 'must be a network interface name (1-15 chars)');
export const domain = z
  .string()
  .regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i, 'must be a DNS domain');

/** ext4/xfs/btrfs UUIDs (8-4-4-4-12 hex) and FAT volume ids (XXXX-XXXX). */
export const fsUuid = z
  .string()
  .regex(
    /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9A-F]{4}-[0-9A-F]{4})$/,
    'must be a filesystem UUID (lowercase 8-4-4-4-12 hex, or XXXX-XXXX for FAT)',
  );

/** No C0 control character (newline, tab, NUL, ESC, ...) and no DEL: a value must not add a line to the file it lands in. */
export const NO_CONTROL = /^[^\u0000-\u001f\u007f]*$/;
const noControl = 'must not contain control characters (newline, tab, NUL, ...)';

export const absPath = z
  .string()
  .regex(/^\//, 'must be an absolute path')
  .regex(NO_CONTROL, noControl)
  .refine((p) => !p.split('/').includes('..'), 'must not contain ".."');

/** A mount point: it lands in /etc/fstab, whose fields are separated by blanks (and "\\" starts an escape). */
export const mountPath = absPath.regex(/^[^\s\\]*$/, 'must not contain spaces or backslashes (it is written into /etc/fstab, whose fields are separated by blanks)');

/** A program path in a systemd unit's ExecStart=: no blanks (argument split), %, $, quotes, ";" or "\\" (unit syntax). */
export const execPath = absPath.regex(/^[^\s%$"'`;\\]*$/, 'must not contain spaces, quotes, %, $, ";" or backslashes (it is written into a systemd unit\'s ExecStart=)');

/** A single-line token (a secret written to a file, a URL in a config): no blanks, no control characters. */
export const word = z.string().regex(/^[^\s\u0000-\u001f\u007f]*$/, 'must be one word without spaces or control characters');

/** Free text that lands on one line somewhere (a comment, a report): no control characters. */
export const oneLine = z.string().regex(NO_CONTROL, noControl);

export const fsType = z.enum(['ext4', 'ext3', 'ext2', 'xfs', 'btrfs', 'vfat', 'exfat', 'ntfs3', 'f2fs']);

/** Mount options, comma-free each, no newline or whitespace (they end up in fstab). */
export const mountOption = z.string().regex(/^[A-Za-z0-9_.=:/@+-]+$/, 'must be one fstab option without spaces or commas');

export const machineId = z.string().regex(/^[0-9a-f]{32}$/, 'must be 32 lowercase hex characters (see machine-id(5))');

/** iSCSI qualified name (RFC 3720): iqn.YYYY-MM.reversed.domain[:identifier]. */
export const iqn = z.string().regex(/^iqn\.\d{4}-\d{2}\.[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[^\s\u0000-\u001f\u007f]+)?$/, 'must be an iSCSI name like iqn.2004-10.com.ubuntu:01:abcdef');

export const k3sVersion = z.string().regex(/^v\d+\.\d+\.\d+\+k3s\d+$/, 'must be a k3s release like v1.31.5+k3s1');

/** A k3s secure token: K10<sha256 of the cluster CA>::<user>:<password>. */
export const K10_TOKEN = /^K10([0-9a-f]{64})::([^:\s]+):(\S+)$/;
export const k3sToken = z.string().regex(K10_TOKEN, 'must be a k3s secure token (K10<64 hex>::<user>:<password>), e.g. from /var/lib/rancher/k3s/server/node-token');

const dnsLabel = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const qualifiedName = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;
const dnsSubdomain = new RegExp(`^(?=.{1,253}$)${dnsLabel}(\\.${dnsLabel})*$`);

/** Kubernetes label key: [prefix/]name, prefix a DNS subdomain (<=253), name <=63 of [A-Za-z0-9-_.]. */
export const labelKey = z.string().superRefine((key, ctx) => {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && !dnsSubdomain.test(prefix)) {
    ctx.addIssue({ code: 'custom', message: `label key prefix "${prefix}" must be a DNS subdomain (lowercase, <=253 chars)` });
  }
  if (!qualifiedName.test(name)) {
    ctx.addIssue({ code: 'custom', message: `label key name "${name}" must be 1-63 chars of [A-Za-z0-9-_.], starting and ending alphanumeric` });
  }
});

export const labelValue = z
  .string()
  .regex(/^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/, 'label value must be empty or <=63 chars of [A-Za-z0-9-_.], starting and ending alphanumeric');

export const labels = z.record(labelKey, labelValue);

/** key[=value]:Effect, as `kubectl taint` and k3s --node-taint take it. */
export const taint = z.string().superRefine((t, ctx) => {
  const m = /^([^=:]+)(?:=([^:]*))?:(NoSchedule|PreferNoSchedule|NoExecute)$/.exec(t);
  if (!m) {
    ctx.addIssue({ code: 'custom', message: 'taint must be key[=value]:NoSchedule|PreferNoSchedule|NoExecute' });
    return;
  }
  const key = labelKey.safeParse(m[1]);
  if (!key.success) ctx.addIssue({ code: 'custom', message: `taint key: ${key.error.issues[0]?.message}` });
  const value = labelValue.safeParse(m[2] ?? '');
  if (!value.success) ctx.addIssue({ code: 'custom', message: `taint value: ${value.error.issues[0]?.message}` });
});

export const sshPublicKey = z
  .string()
  .regex(/^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/=]+( [^\u0000-\u001f\u007f]*)?$/, 'must be one OpenSSH public key line (no control characters)');

export const unixUser = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'must be a Unix user name');

/** systemd/journald size like 200M, 1G. */
export const byteSize = z.string().regex(/^\d+[KMGT]?$/, 'must be a size like 200M or 1G');
/** systemd time span like 2week, 1month, 3600s. */
export const timeSpan = z.string().regex(/^\d+ ?(us|ms|s|sec|min|m|h|hour|d|day|week|w|month|year|y)?$/, 'must be a systemd time span like 2week or 3600s (one number and unit, on one line)');

export function inSubnet(cidr: string, ip: string): boolean {
  const [net, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  const toInt = (a: string) => a.split('.').reduce((acc, o) => (acc << 8) + Number(o), 0) >>> 0;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return ((toInt(net!) & mask) >>> 0) === ((toInt(ip) & mask) >>> 0);
}

/**
 * Why a host address cannot be a node's: the subnet's own network or broadcast address (for
 * prefixes up to /30; /31 and /32 have neither), or the gateway's address. null when it can.
 */
export function hostAddressProblem(cidr: string, gateway?: string): string | null {
  const [ip, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  const toInt = (a: string) => a.split('.').reduce((acc, o) => (acc << 8) + Number(o), 0) >>> 0;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  const addr = toInt(ip!);
  const net = (addr & mask) >>> 0;
  if (bits <= 30 && addr === net) return `${ip} is the network address of ${cidr.replace(/^[^/]+/, toDotted(net))}, not a host address`;
  if (bits <= 30 && addr === (net | ~mask) >>> 0) return `${ip} is the broadcast address of ${cidr.replace(/^[^/]+/, toDotted(net))}, not a host address`;
  if (gateway && gateway === ip) return `${ip} is the gateway's address`;
  return null;
}

function toDotted(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}
