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
// on a loaded host). $1: cache dir override ("" for the default), $2: bundle file name, $3: the
// bundle's sha256 the burn wants ("" when only probing), $4: how many blob sha256s follow (the image,
// its bmap): answered here, so a cached image costs no separate command (each one is a login shell
// there, and a node start for the agent's receive). Any arguments after the blobs are a burn
// agent's: when the host already holds that bundle and every blob, has node >= MIN_NODE_MAJOR and
// needs no password to become root, the probe says "fast=go" and becomes that agent in the same
// channel (a repeat burn pays one remote command, not two); otherwise "fast=no", and the caller
// goes on from the facts printed before.
const PROBE = `
u=$(id -u); echo "uid=$u"; echo "user=$(id -un)"; echo "home=$HOME"
n=$(command -v node 2>/dev/null || command -v nodejs 2>/dev/null || true); echo "node=$n"
v=; if [ -n "$n" ]; then v=$("$n" --version 2>/dev/null); v=\${v#v}; echo "nodever=$v"; fi
if [ "$u" = 0 ]; then p=root
elif ! command -v sudo >/dev/null 2>&1; then p=none
elif sudo -n true >/dev/null 2>&1; then p=sudo-nopasswd
else p=sudo-password; fi; echo "priv=$p"
x=\${XDG_CACHE_HOME:-}; case $x in /*) ;; *) x=$HOME/.cache ;; esac
c=\${1:-$x/metis-flasher}; echo "cache=$c"
b="$c/agent/$2"; echo "bundle=$b"
s=; if [ -f "$b" ]; then s=$(sha256sum "$b" | cut -c1-64); echo "bundlesha=$s"; fi
w=$3; k=$4; shift 4; all=1
while [ "$k" -gt 0 ]; do if [ -f "$c/blobs/sha256/$1" ]; then echo "cached=$1"; else all=0; fi; shift; k=$((k - 1)); done
[ $# -gt 0 ] || exit 0
m=\${v%%.*}
if [ "$all" = 1 ] && [ -n "$w" ] && [ "$s" = "$w" ] && [ -n "$n" ] && [ "\${m:-0}" -ge ${MIN_NODE_MAJOR} ] 2>/dev/null; then
  case $p in
  root) echo fast=go; exec "$n" "$b" burn-agent burn --cache "$c" "$@" ;;
  sudo-nopasswd) echo fast=go; exec sudo -n -- "$n" "$b" burn-agent burn --cache "$c" "$@" ;;
  esac
fi
echo fast=no
`;

export interface ProbeRequest {
  cacheDir?: string;
  bundleName: string;
  /** The bundle's sha256 the burn would run (the fast path runs only that). */
  bundleSha256?: string;
  blobs?: string[];
}

/** The probe's remote argv; with `agentArgs`, the probe may become that burn agent (see PROBE). */
export function probeArgv(p: ProbeRequest, agentArgs: readonly string[] = []): string[] {
  const blobs = (p.blobs ?? []).filter((h) => /^[0-9a-f]{64}$/.test(h));
  return ['sh', '-c', PROBE, 'metis-probe', p.cacheDir ?? '', p.bundleName, p.bundleSha256 ?? '', String(blobs.length), ...blobs, ...agentArgs];
}

/** The probe's `key=value` lines as facts; throws what a host that cannot burn must say. */
export function parseProbe(host: string, stdout: string, exitCode: number | null, stderr: string, blobs: readonly string[] = []): HostFacts {
  const lines = stdout.split('\n').filter((l) => /^[a-z]+=/.test(l));
  const kv = new Map(lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const));
  const cached = new Set(lines.filter((l) => l.startsWith('cached=')).map((l) => l.slice('cached='.length)).filter((h) => blobs.includes(h)));
  if (exitCode !== 0 || !kv.has('uid')) throw new HostError('E_HOST_PROTOCOL', host, `probing the host failed (exit ${exitCode}): ${stderr.trim()}`);
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
