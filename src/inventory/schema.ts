import { z } from 'zod';
import { DIGEST_INPUT, normalizeDigest } from '../core/digest.js';
import * as f from '../manifest/fields.js';
import { checkUsers, identitySchema, iscsiSchema, journaldSchema, mountSchema, userSchema } from '../manifest/schema.js';
import { imageSpecSchema } from '../core/image-spec.js';
import { bootConfigLines, cmdlineSchema } from '../manifest/boot.js';
import { hookFileSchema, hookHandlerSchema, hookTaskSchema } from '../manifest/hooks.js';
import { parseSshTarget } from '../lib/ssh.js';

/** `file:PATH` (relative to the inventory), `env:NAME`, `cmd:COMMAND` (argv split on spaces, no shell), `age:PATH`, `sops:PATH#key.path`. */
export const secretSource = z
  .string()
  .regex(/^(file:\S.*|env:[A-Za-z_][A-Za-z0-9_]*|cmd:\S.*|age:\S+|sops:\S+#[A-Za-z0-9_.-]+)$/, 'must be a secret source: file:PATH, env:NAME, cmd:COMMAND, age:PATH or sops:PATH#key.path (the secret itself never lives in the inventory)');

const authorizedKeys = z.array(z.strictObject({ user: f.unixUser.default('root'), keys: z.array(f.sshPublicKey).min(1) }));
const subnet = f.cidrv4;
/** Login accounts (docs/users.md): cluster, then class, then node; a later file's entry replaces one of the same name. */
const users = z.array(userSchema).superRefine((u, ctx) => checkUsers(u, ctx, []));

/**
 * Hooks and boot config a class or node adds (docs/inventory.md#hooks): the node's entries extend
 * the class's, replacing one with the same path (files), name (tasks, handlers) or config line key.
 */
const hooks = {
  files: z.array(hookFileSchema).default([]),
  tasks: z.array(hookTaskSchema).default([]),
  handlers: z.array(hookHandlerSchema).default([]),
  /** config.txt lines and cmdline.txt words on the FAT boot partition (docs/pi-boot.md); mounted at image.bootPath. */
  boot: z.strictObject({ config: bootConfigLines.default({}), cmdline: cmdlineSchema.default({ add: [], remove: [] }) }).optional(),
};

/** Network defaults a cluster or class may set; a node's own address comes from its node file. */
const networkDefaults = z.strictObject({
  /** The nodes' subnet: every node address must lie inside it. */
  subnet: subnet.optional(),
  gateway: f.ipv4.optional(),
  dns: z.array(f.ipAddress).optional(),
  searchDomains: z.array(f.domain).optional(),
});

const imageBuildKeys = imageSpecSchema.pick({ suite: true, bootPath: true, bootSizeMiB: true, sizeMiB: true, k3sBinary: true, cmdline: true, enable: true, initramfs: true }).shape;

export const classSchema = z.strictObject({
  /** Defaults to the file name; must match it when given. */
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'must be a class name like rpi4-worker').optional(),
  description: z.string().optional(),
  arch: z.enum(['arm64', 'amd64']),
  /** Debian packages the class image carries (read by `metis image build` too). */
  packages: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, 'must be a Debian package name')).default([]),
  image: z.strictObject({
    /** Where the burner gets the image: a local path, http(s):// URL, or oci://HOST/REPO:TAG|@sha256:… */
    ref: z.string().min(1).optional(),
    sha256: z.string().regex(DIGEST_INPUT, 'must be a sha256: 64 hex characters, optionally prefixed sha256:').transform((d) => normalizeDigest(d)).optional(),
    /** Refuse to burn this class from an image whose sha256 is not known in advance (pinned here, --sha256 or a sidecar). */
    requireDigest: z.boolean().optional(),
    ...imageBuildKeys,
  }).default({ bootPath: '/boot/firmware', suite: 'bookworm', bootSizeMiB: 128, cmdline: 'console=ttyS0 rw', enable: [] }),
  network: networkDefaults
    .extend({
      interface: f.interfaceName.default('end0'),
      renderer: z.enum(['auto', 'networkd', 'networkmanager', 'netplan']).default('auto'),
    })
    .default({ interface: 'end0', renderer: 'auto' }),
  k3s: z
    .strictObject({
      role: z.enum(['agent', 'server']).default('agent'),
      version: f.k3sVersion,
      labels: f.labels.default({}),
      taints: z.array(f.taint).default([]),
      kubeletArgs: z.array(z.string()).default([]),
    })
    .optional(),
  journald: journaldSchema.optional(),
  iscsi: iscsiSchema.optional(),
  users: users.default([]),
  ...hooks,
});

/** Which class images a burn accepts: signed by one of these keys (docs/signing.md). */
const signatures = z
  .strictObject({
    /** required: an unsigned image is refused; optional: a signature present must verify. */
    policy: z.enum(['required', 'optional']).default('optional'),
    /** PEM public keys (ECDSA P-256), inline or as file:PATH relative to the inventory. */
    publicKeys: z.array(z.string().regex(/^(-----BEGIN PUBLIC KEY-----[\s\S]+-----END PUBLIC KEY-----\s*|file:\S.*)$/, 'must be a PEM public key (-----BEGIN PUBLIC KEY-----…) or file:PATH')).default([]),
  })
  .refine((v) => v.policy !== 'required' || v.publicKeys.length > 0, { message: 'policy required needs at least one public key', path: ['publicKeys'] });

const flasherSchema = z.strictObject({
  /** [USER@]HOST[:PORT] or a Host name from ~/.ssh/config. */
  ssh: z.string().refine((s) => {
    try {
      parseSshTarget(s);
      return true;
    } catch {
      return false;
    }
  }, 'must be [USER@]HOST[:PORT]'),
  /** The host's image cache directory; default ~/.cache/metis-flasher of the SSH user. */
  cache: z.string().regex(/^\//, 'must be an absolute path').optional(),
});

export const clusterSchema = z.strictObject({
  name: z.string().optional(),
  /** https://HOST:6443 of the server agents join. */
  serverUrl: z.string(),
  token: secretSource,
  network: networkDefaults.default({}),
  ssh: z
    .strictObject({ port: z.number().int().min(1).max(65535).default(22), authorizedKeys: authorizedKeys.default([]) })
    .default({ port: 22, authorizedKeys: [] }),
  signatures: signatures.optional(),

  /** Flashing hosts by name, for `metis burn|devices --host NAME` (docs/remote.md). */
  flashers: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be a host-like name'), flasherSchema).default({}),
  /** Identity escrow (`metis identity capture`): sealed with age to these recipients (age1…). */
  identity: z
    .strictObject({ recipients: z.array(z.string().regex(/^age1[02-9ac-hj-np-z]{58}$/, 'must be an age recipient (age1…, from age-keygen -y)')).default([]) })
    .optional(),
  users: users.default([]),
});

export const nodeSchema = z.strictObject({
  hostname: f.hostname,
  class: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'must be a class name like rpi4-worker'),
  /** IPv4 address with prefix, e.g. 192.168.22.13/24. */
  address: f.cidrv4,
  gateway: f.ipv4.optional(),
  dns: z.array(f.ipAddress).optional(),
  searchDomains: z.array(f.domain).optional(),
  mac: f.mac.optional(),
  interface: f.interfaceName.optional(),
  mounts: z.array(mountSchema).default([]),
  labels: f.labels.default({}),
  taints: z.array(f.taint).default([]),
  ssh: z.strictObject({ port: z.number().int().min(1).max(65535).optional(), authorizedKeys: authorizedKeys.default([]) }).optional(),
  k3s: z
    .strictObject({
      role: z.enum(['agent', 'server']).optional(),
      version: f.k3sVersion.optional(),
      /** First server of a new cluster: no serverUrl, cluster-init. */
      clusterInit: z.boolean().optional(),
      nodePassword: secretSource.optional(),
      kubeletArgs: z.array(z.string()).optional(),
    })
    .optional(),
  identity: identitySchema.optional(),
  users: users.default([]),
  ...hooks,
});

export type ClassDef = z.output<typeof classSchema>;
export type ClusterDef = z.output<typeof clusterSchema>;
export type NodeDef = z.output<typeof nodeSchema>;
