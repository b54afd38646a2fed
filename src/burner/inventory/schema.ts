import { z } from 'zod';
import * as f from '../../manifest/fields.js';
import { checkUsers, identitySchema, iscsiSchema, journaldSchema, mountSchema, userSchema } from '../../manifest/schema.js';
import { imageSpecSchema } from '../../image/spec.js';

/** `file:PATH` (relative to the inventory), `env:NAME`, or `cmd:COMMAND` (argv split on spaces, no shell). */
export const secretSource = z
  .string()
  .regex(/^(file:\S.*|env:[A-Za-z_][A-Za-z0-9_]*|cmd:\S.*)$/, 'must be a secret source: file:PATH, env:NAME or cmd:COMMAND (the secret itself never lives in the inventory)');

const authorizedKeys = z.array(z.strictObject({ user: f.unixUser.default('root'), keys: z.array(f.sshPublicKey).min(1) }));
const subnet = f.cidrv4;
/** Login accounts (docs/users.md): cluster, then class, then node; a later file's entry replaces one of the same name. */
const users = z.array(userSchema).superRefine((u, ctx) => checkUsers(u, ctx, []));

/** Network defaults a cluster or class may set; a node's own address comes from its node file. */
const networkDefaults = z.strictObject({
  /** The nodes' subnet: every node address must lie inside it. */
  subnet: subnet.optional(),
  gateway: f.ipv4.optional(),
  dns: z.array(f.ipAddress).optional(),
  searchDomains: z.array(f.domain).optional(),
});

const imageBuildKeys = imageSpecSchema.pick({ suite: true, bootPath: true, bootSizeMiB: true, sizeMiB: true, k3sBinary: true, cmdline: true, enable: true }).shape;

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
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters').optional(),
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
});

export type ClassDef = z.output<typeof classSchema>;
export type ClusterDef = z.output<typeof clusterSchema>;
export type NodeDef = z.output<typeof nodeSchema>;
