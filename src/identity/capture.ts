import { MetisError } from '../lib/errors.js';
import { type SshTarget, formatSshTarget, sshRun } from '../lib/ssh.js';
import { type Escrow, escrowSchema, HOST_KEY_TYPES } from './escrow.js';

/**
 * One remote shell run reads every identity file and prints `NAME BASE64` lines on stdout (the
 * SSH channel); values never touch the remote disk, argv or a local file. Not root: `sudo -n`
 * (a password prompt cannot be answered here; use root or NOPASSWD for capture). `$1` is a root
 * prefix, empty on a real node (tests point it at a sysroot).
 */
const SCRIPT = `set -u
R="\${1:-}"
S=""
[ "$(id -u)" = 0 ] || S="sudo -n"
emit() { if $S test -e "$R$2"; then printf '%s %s\\n' "$1" "$($S base64 -w0 "$R$2")" || exit 7; else printf '%s -\\n' "$1"; fi; }
emit machine-id /etc/machine-id
emit initiator /etc/iscsi/initiatorname.iscsi
emit node-password /etc/rancher/node/password
for t in ${HOST_KEY_TYPES.join(' ')}; do emit "key-$t" "/etc/ssh/ssh_host_\${t}_key"; emit "pub-$t" "/etc/ssh/ssh_host_\${t}_key.pub"; done
`;

export interface CaptureOptions {
  env?: NodeJS.ProcessEnv;
  root?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  now?: () => Date;
}

/** Reads a running node's identity over SSH. Throws naming the node and the file that could not be read. */
export async function captureIdentity(node: string, target: SshTarget, opts: CaptureOptions = {}): Promise<Escrow> {
  const where = formatSshTarget(target);
  const r = await sshRun(target, ['sh', '-c', SCRIPT, 'metis-identity-capture', opts.root ?? ''], { env: opts.env, timeoutMs: opts.timeoutMs ?? 60_000, signal: opts.signal });
  if (r.exitCode !== 0) {
    const why = r.stderr.trim().split('\n').pop() ?? '';
    const sudo = /sudo|password is required/i.test(r.stderr) ? ' (capture needs root: log in as root or allow passwordless sudo)' : '';
    throw new MetisError('E_CAPTURE', `${node}: reading the identity over SSH (${where}) failed (exit ${r.exitCode})${sudo}: ${why}`, { path: node });
  }
  const got = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const m = /^([a-z0-9-]+) (\S*)$/.exec(line);
    if (m && m[2] !== '-') got.set(m[1]!, Buffer.from(m[2]!, 'base64').toString('utf8'));
  }
  const text = (k: string) => got.get(k)?.trim() || undefined;
  const iscsi = text('initiator')?.split('\n').map((l) => /^\s*InitiatorName\s*=\s*(\S+)/.exec(l)?.[1]).find(Boolean);
  const hostKeys: Record<string, { private: string; public: string }> = {};
  for (const t of HOST_KEY_TYPES) {
    const priv = got.get(`key-${t}`);
    const pub = text(`pub-${t}`);
    if (priv && pub) hostKeys[t] = { private: priv.endsWith('\n') ? priv : `${priv}\n`, public: pub.split(/\s+/).slice(0, 2).join(' ') };
  }
  const draft = {
    node,
    capturedAt: (opts.now ?? (() => new Date()))().toISOString(),
    capturedFrom: where,
    ...(text('machine-id') ? { machineId: text('machine-id') } : {}),
    ...(iscsi ? { iscsiInitiatorName: iscsi } : {}),
    ...(text('node-password') ? { nodePassword: text('node-password') } : {}),
    hostKeys,
  };
  const parsed = escrowSchema.safeParse(draft);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    // The message names the field, never the value read.
    throw new MetisError('E_CAPTURE', `${node}: ${i.path.join('.')}: what ${where} holds is not usable: ${i.message}`, { path: i.path.join('.') });
  }
  if (Object.keys(hostKeys).length === 0) throw new MetisError('E_CAPTURE', `${node}: no SSH host key pair found under /etc/ssh on ${where}`, { path: 'hostKeys' });
  return parsed.data;
}
