import { z } from 'zod';
import { stringify } from 'yaml';
import * as f from '../../manifest/fields.js';
import type { ApplyResult, Module } from '../types.js';
import { applyFiles, checkFiles, type SetSpec } from './file-set.js';
import type { FilePlan } from './file.js';

export const CONFIG = '/etc/rancher/k3s/config.yaml';
export const TOKEN_FILE = '/etc/rancher/k3s/token';
export const unitName = (role: 'agent' | 'server') => (role === 'agent' ? 'k3s-agent.service' : 'k3s.service');

const args = z.strictObject({
  role: z.enum(['agent', 'server']),
  version: f.k3sVersion,
  serverUrl: z.string().optional(),
  token: z.string().min(1),
  nodeName: f.hostname,
  nodeIp: f.ipAddress,
  labels: f.labels.default({}),
  taints: z.array(f.taint).default([]),
  kubeletArgs: z.array(z.string()).default([]),
  clusterInit: z.boolean().default(false),
  binary: f.absPath.default('/usr/local/bin/k3s'),
});
type Args = z.output<typeof args>;

interface Plan {
  files: FilePlan[];
  versionProblem?: string;
}

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
  if (a.role === 'server' && a.clusterInit) cfg['cluster-init'] = true;
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

export const k3sModule: Module<Args, Plan> = {
  name: 'k3s',
  args,
  async check(a, ctx) {
    let versionProblem: string | undefined;
    if (!(await ctx.fs.exists(a.binary))) versionProblem = `${a.binary} is missing: the class image must carry k3s ${a.version} (Metis never downloads at boot)`;
    else if (ctx.live) {
      const r = await ctx.exec(a.binary, ['--version'], { allowFailure: true });
      const got = parseVersion(r.stdout);
      if (got !== a.version) versionProblem = `${a.binary} is ${got ?? 'not a working k3s'}, the class pins ${a.version}`;
    }
    const specs: SetSpec[] = [
      { dest: CONFIG, content: renderConfig(a), mode: 0o600 },
      { dest: TOKEN_FILE, content: `${a.token}\n`, mode: 0o600, secret: true },
      { dest: `/etc/systemd/system/${unitName(a.role)}`, content: renderUnit(a), mode: 0o644 },
    ];
    const r = await checkFiles(ctx, specs);
    if (versionProblem) return { status: 'change', reason: `will fail: ${versionProblem}`, plan: { files: [], versionProblem } };
    if (!r.plans.length) return { status: 'ok' };
    return { status: 'change', reason: r.reasons.join(', '), diff: r.diff, plan: { files: r.plans } };
  },
  async apply(_a, ctx, { plan }): Promise<ApplyResult | void> {
    if (plan!.versionProblem) return { failed: plan!.versionProblem };
    await applyFiles(ctx, plan!.files);
  },
};
