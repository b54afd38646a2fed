import { type SshTarget, formatSshTarget, sshRun } from '../lib/ssh.js';
import { HostError } from './errors.js';

export interface HostFacts {
  uid: number;
  user: string;
  home: string;
  /** Absolute path of `node` on the host ("" when missing). */
  node: string;
  nodeVersion: string;
  /** How the agent gets root: already root, sudo without password, sudo with password. */
  privilege: 'root' | 'sudo-nopasswd' | 'sudo-password';
  /** The host's image cache (content-addressed, as the workstation's). */
  cacheDir: string;
  /** sha256 of the bundle already at `bundlePath`, "" when absent. */
  bundleSha256: string;
  bundlePath: string;
}

export const MIN_NODE_MAJOR = 18;

// Reads only. $1: cache dir override ("" for the default), $2: bundle file name.
const PROBE = `
u=$(id -u); echo "uid=$u"; echo "user=$(id -un)"; echo "home=$HOME"
n=$(command -v node 2>/dev/null || command -v nodejs 2>/dev/null || true); echo "node=$n"
if [ -n "$n" ]; then echo "nodever=$("$n" -e 'process.stdout.write(process.versions.node)' 2>/dev/null)"; fi
if [ "$u" = 0 ]; then echo priv=root
elif ! command -v sudo >/dev/null 2>&1; then echo priv=none
elif sudo -n true >/dev/null 2>&1; then echo priv=sudo-nopasswd
else echo priv=sudo-password; fi
c=\${1:-\${XDG_CACHE_HOME:-$HOME/.cache}/metis-flasher}; echo "cache=$c"
b="$c/agent/$2"; echo "bundle=$b"
if [ -f "$b" ]; then echo "bundlesha=$(sha256sum "$b" | cut -c1-64)"; fi
`;

/** One SSH round trip: who we are there, its node, how to become root, what is cached. */
export async function probeHost(target: SshTarget, opts: { env: NodeJS.ProcessEnv; cacheDir?: string; bundleName: string; signal?: AbortSignal }): Promise<HostFacts> {
  const host = formatSshTarget(target);
  const r = await sshRun(target, ['sh', '-c', PROBE, 'metis-probe', opts.cacheDir ?? '', opts.bundleName], { env: opts.env, timeoutMs: 60_000, signal: opts.signal });
  const kv = new Map(r.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const));
  if (r.exitCode !== 0 || !kv.has('uid')) throw new HostError('E_HOST_PROTOCOL', host, `probing the host failed (exit ${r.exitCode}): ${r.stderr.trim()}`);
  const node = kv.get('node') ?? '';
  const nodeVersion = kv.get('nodever') ?? '';
  if (!node) throw new HostError('E_HOST_NODE', host, `no node on the flashing host: install Node.js ${MIN_NODE_MAJOR} or newer there (Debian 12: apt-get install nodejs); nothing was written`);
  const major = Number(/^(\d+)\./.exec(nodeVersion)?.[1] ?? NaN);
  if (!(major >= MIN_NODE_MAJOR)) throw new HostError('E_HOST_NODE', host, `node ${nodeVersion || '(version unknown)'} at ${node} is too old: install Node.js ${MIN_NODE_MAJOR} or newer on the flashing host (Debian 12: apt-get install nodejs); nothing was written`);
  const priv = kv.get('priv');
  if (priv !== 'root' && priv !== 'sudo-nopasswd' && priv !== 'sudo-password') {
    throw new HostError('E_HOST_SUDO', host, `user ${kv.get('user')} is not root and the host has no sudo: install sudo and allow ${kv.get('user')} to use it, or log in as root; nothing was written`);
  }
  return {
    uid: Number(kv.get('uid')),
    user: kv.get('user') ?? '',
    home: kv.get('home') ?? '',
    node,
    nodeVersion,
    privilege: priv,
    cacheDir: kv.get('cache') ?? '',
    bundlePath: kv.get('bundle') ?? '',
    bundleSha256: kv.get('bundlesha') ?? '',
  };
}
