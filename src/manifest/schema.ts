import { z } from 'zod';
import * as f from './fields.js';
import { secret } from './secret.js';
import { bootSchema } from './boot.js';
import { checkHooks, hookFileSchema, hookHandlerSchema, hookTaskSchema } from './hooks.js';

/** The versions of the manifest format this build reads. The burner writes the newest. */
export const SUPPORTED_SCHEMA_VERSIONS = [1] as const;
export const CURRENT_SCHEMA_VERSION = 1;

const ipv4Config = z
  .strictObject({
    /** Address with prefix, e.g. 192.168.22.13/24. */
    address: f.cidrv4,
    gateway: f.ipv4.optional(),
  })
  .superRefine((v, ctx) => {
    if (v.gateway && !f.inSubnet(v.address, v.gateway)) {
      ctx.addIssue({ code: 'custom', path: ['gateway'], message: `gateway ${v.gateway} is outside the subnet of ${v.address}` });
    }
    const problem = f.hostAddressProblem(v.address, v.gateway);
    if (problem) ctx.addIssue({ code: 'custom', path: ['address'], message: problem });
  });

const ipv6Config = z.strictObject({
  address: f.cidrv6,
  gateway: f.ipv6.optional(),
});

export const networkSchema = z.strictObject({
  /** The NIC to configure; a Pi's onboard Ethernet is end0. */
  interface: f.interfaceName.default('end0'),
  /** Match the NIC by MAC instead of by name (the name is then set from it). */
  mac: f.mac.optional(),
  renderer: z.enum(['auto', 'networkd', 'networkmanager', 'netplan']).default('auto'),
  ipv4: ipv4Config,
  ipv6: ipv6Config.optional(),
  dns: z.array(f.ipAddress).default([]),
  searchDomains: z.array(f.domain).default([]),
});

const hostKey = z.strictObject({
  /** OpenSSH private key (PEM "-----BEGIN OPENSSH PRIVATE KEY-----"). */
  private: secret(
    z
      .string()
      .regex(/-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'must be an OpenSSH private key')
      .regex(/^[^\u0000-\u0009\u000b-\u001f\u007f]*$/, 'must not contain control characters other than newlines'),
  ),
  public: f.sshPublicKey,
});

export const sshSchema = z.strictObject({
  port: z.number().int().min(1).max(65535).default(22),
  passwordAuthentication: z.boolean().default(false),
  permitRootLogin: z.enum(['yes', 'no', 'prohibit-password']).default('prohibit-password'),
  authorizedKeys: z
    .array(z.strictObject({ user: f.unixUser.default('root'), keys: z.array(f.sshPublicKey).min(1) }))
    .default([]),
  /** Host keys kept across reflash so clients see the same host; generated on first boot when absent. */
  hostKeys: z
    .strictObject({ ed25519: hostKey.optional(), ecdsa: hostKey.optional(), rsa: hostKey.optional() })
    .optional(),
});

export const mountSchema = z.strictObject({
  uuid: f.fsUuid,
  path: f.mountPath,
  fstype: f.fsType,
  options: z.array(f.mountOption).default(['defaults']),
  /** Seconds systemd waits for the device before giving up (x-systemd.device-timeout). */
  deviceTimeoutSec: z.number().int().min(1).max(600).default(10),
  /** Longhorn disks: the diskUUID the mounted disk's longhorn-disk.cfg must carry before k3s starts. */
  longhornDiskUuid: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'must be a lowercase UUID (diskUUID in longhorn-disk.cfg)').optional(),
});

export const iscsiSchema = z.strictObject({
  enabled: z.boolean().default(false),
  targets: z
    .array(z.strictObject({ portal: z.string().regex(/^[0-9a-fA-F.:[\]]+(:\d+)?$/, 'must be host[:port]'), iqn: f.iqn }))
    .default([]),
});

/** The k3s fields without the cross-field rules, so the bootstrap's k3s modules can pick from them (one source of truth). */
export const k3sFields = z.strictObject({
    role: z.enum(['agent', 'server']),
    version: f.k3sVersion,
    /** https://HOST:6443 of an existing server. Absent only for the first server (cluster-init). */
    serverUrl: f.word.pipe(z.url({ protocol: /^https$/, message: 'must be an https:// URL like https://192.168.22.10:6443' })).optional(),
    token: secret(f.word.min(16, 'must be at least 16 characters')),
    /** /etc/rancher/node/password: kept so a reflashed node is accepted under the same name. */
    nodePassword: secret(f.word.min(8)).optional(),
    nodeIp: f.ipAddress.optional(),
    labels: f.labels.default({}),
    taints: z.array(f.taint).default([]),
    kubeletArgs: z.array(z.string().regex(/^[a-z0-9-]+=[^\s\u0000-\u001f\u007f]*$/, 'must be name=value without spaces or control characters')).default([]),
    clusterInit: z.boolean().default(false),
    binary: f.execPath.default('/usr/local/bin/k3s'),
  });

export const k3sSchema = k3sFields.superRefine((v, ctx) => {
    if (v.role === 'agent' && !v.serverUrl) {
      ctx.addIssue({ code: 'custom', path: ['serverUrl'], message: 'an agent needs serverUrl' });
    }
    // A joining server (serverUrl) must never run cluster-init: that would start a second cluster.
    if (v.clusterInit && v.role === 'server' && v.serverUrl) {
      ctx.addIssue({ code: 'custom', path: ['clusterInit'], message: 'a server joining serverUrl must not set clusterInit (cluster-init starts a new cluster): remove one of them' });
    }
    if (v.clusterInit && v.role === 'agent') {
      ctx.addIssue({ code: 'custom', path: ['clusterInit'], message: 'only the first server of a new cluster sets clusterInit, not an agent' });
    }
    if (v.serverUrl && !f.K10_TOKEN.test(v.token)) {
      ctx.addIssue({ code: 'custom', path: ['token'], message: f.k3sToken.safeParse(v.token).error?.issues[0]?.message ?? 'bad token' });
    }
  });

/** A login account on the node (docs/users.md). Metis never sets or stores a password. */
export const userSchema = z.strictObject({
  name: f.unixUser.refine((n) => n !== 'root', 'root is not managed here: its keys are ssh.authorizedKeys'),
  /** Fixed uid (Debian's range for people: 1000-59999); absent: useradd picks the next free one. */
  uid: z.number().int().min(1000, 'must be 1000-59999 (Debian\'s range for user accounts)').max(59999, 'must be 1000-59999 (Debian\'s range for user accounts)').optional(),
  /** Supplementary groups, exactly (the user is removed from others); each must exist on the node. */
  groups: z.array(f.unixUser).default([]),
  shell: f.absPath.default('/bin/bash'),
  /** none | password (sudo asks the user's own password) | nopasswd, as a rule in /etc/sudoers.d. */
  sudo: z.enum(['none', 'password', 'nopasswd']).default('none'),
  authorizedKeys: z.array(f.sshPublicKey).default([]),
  /** true: the password is locked (key login only). false: Metis leaves the password as it is. */
  lockPassword: z.boolean().default(true),
}).superRefine((u, ctx) => {
  if (u.sudo === 'password' && u.lockPassword) {
    ctx.addIssue({ code: 'custom', path: ['sudo'], message: 'sudo: password needs a password the user can type: set lockPassword: false (and set one with passwd), or use nopasswd' });
  }
  const g = u.groups.findIndex((x) => x === 'sudo');
  if (g >= 0 && u.sudo === 'none') {
    ctx.addIssue({ code: 'custom', path: ['groups', g], message: 'group sudo grants sudo by Debian\'s %sudo rule: say sudo: password or nopasswd instead' });
  }
});

/** Names and uids once each. */
export function checkUsers(users: Array<{ name: string; uid?: number | undefined }>, ctx: z.RefinementCtx, at: PropertyKey[] = ['users']): void {
  const names = new Map<string, number>();
  const uids = new Map<number, number>();
  users.forEach((u, i) => {
    const n = names.get(u.name);
    if (n !== undefined) ctx.addIssue({ code: 'custom', path: [...at, i, 'name'], message: `duplicate user name (also users.${n}.name)` });
    names.set(u.name, i);
    if (u.uid === undefined) return;
    const d = uids.get(u.uid);
    if (d !== undefined) ctx.addIssue({ code: 'custom', path: [...at, i, 'uid'], message: `duplicate uid (also users.${d}.uid)` });
    uids.set(u.uid, i);
  });
}

export const journaldSchema = z.strictObject({
  storage: z.enum(['persistent', 'volatile', 'auto', 'none']).default('persistent'),
  systemMaxUse: f.byteSize.default('200M'),
  runtimeMaxUse: f.byteSize.optional(),
  maxRetentionSec: f.timeSpan.optional(),
});

export const identitySchema = z.strictObject({
  /** /etc/machine-id; generated on first boot when absent (the class image ships it empty). */
  machineId: f.machineId.optional(),
  iscsiInitiatorName: f.iqn.optional(),
});

export const manifestSchema = z.strictObject({
  schemaVersion: z.number().int(),
  node: z.strictObject({
    hostname: f.hostname,
    class: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'must be a class name like rpi4-worker'),
    arch: z.enum(['arm64', 'amd64']),
  }),
  network: networkSchema,
  ssh: sshSchema.default({ port: 22, passwordAuthentication: false, permitRootLogin: 'prohibit-password', authorizedKeys: [] }),
  mounts: z.array(mountSchema).default([]),
  iscsi: iscsiSchema.default({ enabled: false, targets: [] }),
  k3s: k3sSchema.optional(),
  journald: journaldSchema.default({ storage: 'persistent', systemMaxUse: '200M' }),
  identity: identitySchema.default({}),
  users: z.array(userSchema).default([]),
  /** The Pi boot partition: config.txt lines and cmdline.txt words (docs/pi-boot.md). */
  boot: bootSchema.optional(),
  /** Hooks for special hardware (docs/tasks.md#hooks): files, extra tasks at a phase, their handlers. */
  files: z.array(hookFileSchema).default([]),
  tasks: z.array(hookTaskSchema).default([]),
  handlers: z.array(hookHandlerSchema).default([]),
  /** Written by the burner: where this card came from. Informational. */
  burn: z
    .strictObject({
      metisVersion: f.oneLine,
      burnedAt: f.oneLine,
      image: f.oneLine.optional(),
      imageSha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
    })
    .optional(),
}).superRefine((m, ctx) => {
  const seen = new Map<string, number>();
  m.mounts.forEach((mnt, i) => {
    const prev = seen.get(mnt.path);
    if (prev !== undefined) ctx.addIssue({ code: 'custom', path: ['mounts', i, 'path'], message: `duplicate mount path (also mounts.${prev}.path)` });
    seen.set(mnt.path, i);
  });
  checkUsers(m.users, ctx);
  checkHooks(m, ctx);
});

/** The manifest as written (defaults optional). */
export type ManifestInput = z.input<typeof manifestSchema>;
/** The manifest after validation, every default filled in. */
export type Manifest = z.output<typeof manifestSchema>;
export type Mount = z.output<typeof mountSchema>;
export type NetworkConfig = z.output<typeof networkSchema>;
export type K3sConfig = z.output<typeof k3sSchema>;
export type User = z.output<typeof userSchema>;
