import { z } from 'zod';
import * as f from '../../manifest/fields.js';
import { REDACTED } from '../../manifest/secret.js';
import type { Action, CheckResult, Context, DiffEntry, Module } from '../types.js';
import { combine } from './combine.js';
import { checkFile, type FileSpec } from './file.js';

export const KEY_TYPES = ['ed25519', 'ecdsa', 'rsa'] as const;
type KeyType = (typeof KEY_TYPES)[number];

const hostKey = z.object({ private: z.string(), public: z.string() });
const args = z.strictObject({
  /** The manifest's `identity` section: machineId when given, else generated once. */
  identity: z.object({ machineId: f.machineId.optional() }).passthrough().optional(),
  /** The manifest's `ssh` section: hostKeys when given, else each missing type generated once. */
  ssh: z.object({ hostKeys: z.partialRecord(z.enum(KEY_TYPES), hostKey).optional() }).passthrough().optional(),
  /** k3s node password; "" = generate once when missing. Absent = not managed by this task. */
  nodePassword: z.string().optional(),
  /**
   * false: SSH host keys the manifest does not give are left for later (the early phase: on a first
   * boot metis-ssh-hostkeys.service makes them beside the boot, off its critical path, and the full
   * run's own task generates whatever is still missing). Default true.
   */
  generateHostKeys: z.boolean().default(true),
});
type Args = z.output<typeof args>;

export const MACHINE_ID = '/etc/machine-id';
export const NODE_PASSWORD = '/etc/rancher/node/password';
export const hostKeyPath = (t: KeyType) => `/etc/ssh/ssh_host_${t}_key`;

const withNl = (s: string) => (s.endsWith('\n') ? s : `${s}\n`);

/** An id systemd would accept: 32 lowercase hex, not all zero. Empty/"uninitialized" means first boot. */
async function currentMachineId(ctx: Context): Promise<string | null> {
  const text = ((await ctx.fs.readText(MACHINE_ID)) ?? '').trim();
  return /^[0-9a-f]{32}$/.test(text) && !/^0+$/.test(text) ? text : null;
}

export const identityModule: Module<Args> = {
  name: 'identity',
  args,
  async check(a, ctx) {
    const specs: FileSpec[] = [];
    const actions: Action[] = [];
    const diff: DiffEntry[] = [];
    const reasons: string[] = [];
    if (a.identity) {
      const wanted = a.identity.machineId;
      if (wanted) specs.push({ dest: MACHINE_ID, content: `${wanted}\n`, mode: 0o444 });
      else if (!(await currentMachineId(ctx))) {
        // Generated when the action runs, so --check never invents one; the report shows it.
        actions.push({ kind: 'write', path: MACHINE_ID, content: { generate: 'machine-id' }, mode: 0o444, fact: 'machineId' });
        diff.push({ target: MACHINE_ID, before: (await ctx.fs.readText(MACHINE_ID)) ?? null, after: '(generated once)' });
        reasons.push('generate machine-id (none in the manifest, image ships it empty)');
      }
    }
    if (a.ssh) {
      const generated: KeyType[] = [];
      const groups: Action[][] = [];
      for (const t of KEY_TYPES) {
        const given = a.ssh.hostKeys?.[t];
        const path = hostKeyPath(t);
        if (given) {
          specs.push({ dest: path, content: withNl(given.private), mode: 0o600, secret: true });
          specs.push({ dest: `${path}.pub`, content: withNl(given.public), mode: 0o644 });
        } else if (a.generateHostKeys && (!(await ctx.fs.exists(path)) || !(await ctx.fs.exists(`${path}.pub`)))) {
          generated.push(t);
          groups.push([
            { kind: 'remove', path },
            { kind: 'remove', path: `${path}.pub` },
            { kind: 'run', argv: ['ssh-keygen', '-q', '-t', t, '-N', '', '-C', '', '-f', ctx.fs.abs(path)] },
            { kind: 'fingerprint', path: `${path}.pub`, fact: `sshHostKey.${t}` },
          ]);
          diff.push({ target: path, before: null, after: '(generated once)' });
        }
      }
      if (generated.length) {
        if (!(await ctx.fs.exists('/etc/ssh'))) actions.push({ kind: 'mkdir', path: '/etc/ssh', mode: 0o755 });
        // The key types are generated at the same time: RSA's prime search dominates, and on a
        // Pi (or under emulation) the other two and their process starts fit beside it.
        actions.push(...(groups.length === 1 ? groups[0]! : [{ kind: 'parallel' as const, groups }]));
        reasons.push(`generate SSH host keys ${generated.join(', ')}`);
      }
    }
    if (a.nodePassword !== undefined) {
      if (a.nodePassword) specs.push({ dest: NODE_PASSWORD, content: withNl(a.nodePassword), mode: 0o600, secret: true });
      else if (!(await ctx.fs.exists(NODE_PASSWORD))) {
        actions.push({ kind: 'write', path: NODE_PASSWORD, content: { generate: 'password' }, mode: 0o600, secret: true, fact: 'nodePassword' });
        diff.push({ target: NODE_PASSWORD, before: null, after: REDACTED });
        reasons.push('generate k3s node password');
      }
    }
    const files: CheckResult[] = [];
    for (const spec of specs) files.push(await checkFile(ctx, spec));
    return combine(files, { actions, diff, reasons });
  },
};
