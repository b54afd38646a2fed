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
  /** Which of the asked-for blobs (sha256) the host's cache holds (stat only: the burn re-hashes what it writes). */
  cached: Set<string>;
}

export const MIN_NODE_MAJOR = 18;

// Reads only ("node --version" exits before starting V8: ~0.05 s, where "node -e" takes 0.3-0.7 s
// on a loaded host). $1: cache dir override ("" for the default), $2: bundle file name, then the sha256s
// of blobs the burn needs (the image, its bmap): answered here, so a cached image costs no
// separate command (each one is a login shell there, and a node start for the agent's receive).
const PROBE = `
u=$(id -u); echo "uid=$u"; echo "user=$(id -un)"; echo "home=$HOME"
n=$(command -v node 2>/dev/null || command -v nodejs 2>/dev/null || true); echo "node=$n"
if [ -n "$n" ]; then v=$("$n" --version 2>/dev/null); echo "nodever=\${v#v}"; fi
if [ "$u" = 0 ]; then echo priv=root
elif ! command -v sudo >/dev/null 2>&1; then echo priv=none
elif sudo -n true >/dev/null 2>&1; then echo priv=sudo-nopasswd
else echo priv=sudo-password; fi
c=\${1:-\${XDG_CACHE_HOME:-$HOME/.cache}/metis-flasher}; echo "cache=$c"
b="$c/agent/$2"; echo "bundle=$b"
if [ -f "$b" ]; then echo "bundlesha=$(sha256sum "$b" | cut -c1-64)"; fi
shift 2; for h in "$@"; do if [ -f "$c/blobs/sha256/$h" ]; then echo "cached=$h"; fi; done
`;

/** One SSH round trip: who we are there, its node, how to become root, what is cached. */
export async function probeHost(target: SshTarget, opts: { env: NodeJS.ProcessEnv; cacheDir?: string; bundleName: string; blobs?: string[]; signal?: AbortSignal }): Promise<HostFacts> {
  const host = formatSshTarget(target);
  const blobs = (opts.blobs ?? []).filter((h) => /^[0-9a-f]{64}$/.test(h));
  const r = await sshRun(target, ['sh', '-c', PROBE, 'metis-probe', opts.cacheDir ?? '', opts.bundleName, ...blobs], { env: opts.env, timeoutMs: 60_000, signal: opts.signal });
  const lines = r.stdout.split('\n').filter((l) => l.includes('='));
  const kv = new Map(lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const));
  const cached = new Set(lines.filter((l) => l.startsWith('cached=')).map((l) => l.slice('cached='.length)).filter((h) => blobs.includes(h)));
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
    cached,
  };
}
