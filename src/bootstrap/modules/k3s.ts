import type { z } from 'zod';
import { stringify } from 'yaml';
import * as f from '../../manifest/fields.js';
import { k3sFields } from '../../manifest/schema.js';
import type { Module } from '../types.js';
import { combine } from './combine.js';
import { checkFile } from './file.js';
import { binaryVersion } from '../binary-version.js';
import { registrationOwnership } from './k3s-node.js';

export const CONFIG = '/etc/rancher/k3s/config.yaml';
export const TOKEN_FILE = '/etc/rancher/k3s/token';
export const unitName = (role: 'agent' | 'server') => (role === 'agent' ? 'k3s-agent.service' : 'k3s.service');

/** The manifest's k3s fields (token keeps its secret mark), plus what the task derives from elsewhere. */
export const k3sArgs = k3sFields
  .pick({ role: true, version: true, serverUrl: true, token: true, labels: true, taints: true, kubeletArgs: true, clusterInit: true, binary: true })
  .extend({ nodeName: f.hostname, nodeIp: f.ipAddress });
const args = k3sArgs;
type Args = z.output<typeof args>;

export function renderConfig(a: Args): string {
  const cfg: Record<string, unknown> = {};
  if (a.serverUrl) cfg['server'] = a.serverUrl;
  cfg['token-file'] = TOKEN_FILE;
  cfg['node-name'] = a.nodeName;
  cfg['node-ip'] = a.nodeIp;
  const labels = Object.entries(a.labels).map(([k, v]) => `${k}=${v}`);
  if (labels.length) cfg['node-label'] = labels;
  if (a.taints.length) cfg['node-taint'] = a.taints;
  if (a.kubeletArgs.length) cfg['kubelet-arg'] = a.kubeletArgs;
  // A joining server gets `server:` + token only; cluster-init is for the first server (check refuses both).
  if (a.role === 'server' && a.clusterInit && !a.serverUrl) cfg['cluster-init'] = true;
  return `# Managed by metis-bootstrap from the node manifest; local edits are reverted.\n${stringify(cfg, { lineWidth: 0 })}`;
}

/** The install script's units, reduced: agent runs as Type=exec, server as Type=notify. */
export function renderUnit(a: Args): string {
  return `# Managed by metis-bootstrap.
[Unit]
Description=Lightweight Kubernetes (${a.role}, managed by Metis)
Documentation=https://k3s.io
Wants=network-online.target
After=network-online.target local-fs.target remote-fs.target

[Service]
Type=${a.role === 'agent' ? 'exec' : 'notify'}
ExecStartPre=-/sbin/modprobe br_netfilter
ExecStartPre=-/sbin/modprobe overlay
ExecStart=${a.binary} ${a.role}
KillMode=process
Delegate=yes
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
TimeoutStartSec=0
Restart=always
RestartSec=5s

[Install]
WantedBy=multi-user.target
`;
}

/** `k3s --version` prints "k3s version v1.31.5+k3s1 (abcdef)". */
export function parseVersion(out: string): string | null {
  return /k3s version (v\S+)/.exec(out)?.[1] ?? null;
}

export const k3sModule: Module<Args> = {
  name: 'k3s',
  args,
  async check(a, ctx) {
    if (!(await ctx.fs.exists(a.binary))) return { status: 'fail', reason: `${a.binary} is missing: the class image must carry k3s ${a.version} (Metis never downloads at boot)` };
    if (ctx.live) {
      const got = await binaryVersion(ctx, a.binary, async () => parseVersion((await ctx.exec(a.binary, ['--version'], { allowFailure: true })).stdout));
      if (got !== a.version) return { status: 'fail', reason: `${a.binary} is ${got ?? 'not a working k3s'}, the class pins ${a.version}` };
    }
    if (a.clusterInit && a.serverUrl) return { status: 'fail', reason: 'clusterInit and serverUrl together: a joining server must not run cluster-init (it would start a new cluster)' };
    // The labels the config registers the Node with are Metis's from now on (k3s-node.ts).
    const own = await registrationOwnership(ctx, a.labels);
    return combine(
      [
        await checkFile(ctx, { dest: CONFIG, content: renderConfig(a), mode: 0o600 }),
        await checkFile(ctx, { dest: TOKEN_FILE, content: `${a.token}\n`, mode: 0o600, secret: true }),
        await checkFile(ctx, { dest: `/etc/systemd/system/${unitName(a.role)}`, content: renderUnit(a), mode: 0o644 }),
      ],
      own ? { actions: [own], reasons: ['record the Node labels Metis owns'] } : {},
    );
  },
};
