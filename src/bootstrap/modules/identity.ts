import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import * as f from '../../manifest/fields.js';
import { REDACTED } from '../../manifest/secret.js';
import type { Context, DiffEntry, Module } from '../types.js';
import type { FilePlan } from './file.js';
import { applyFiles, checkFiles, type SetSpec } from './file-set.js';

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
});
type Args = z.output<typeof args>;

export const MACHINE_ID = '/etc/machine-id';
export const NODE_PASSWORD = '/etc/rancher/node/password';
export const hostKeyPath = (t: KeyType) => `/etc/ssh/ssh_host_${t}_key`;

interface Plan {
  files: FilePlan[];
  /** machine-id to generate (value chosen at apply time so --check never invents one) */
  generateMachineId: boolean;
  generateKeys: KeyType[];
  generatePassword: boolean;
}

const withNl = (s: string) => (s.endsWith('\n') ? s : `${s}\n`);

/** An id systemd would accept: 32 lowercase hex, not all zero. Empty/"uninitialized" means first boot. */
async function currentMachineId(ctx: Context): Promise<string | null> {
  const text = ((await ctx.fs.readText(MACHINE_ID)) ?? '').trim();
  return /^[0-9a-f]{32}$/.test(text) && !/^0+$/.test(text) ? text : null;
}

export const identityModule: Module<Args, Plan> = {
  name: 'identity',
  args,
  async check(a, ctx) {
    const specs: SetSpec[] = [];
    const plan: Plan = { files: [], generateMachineId: false, generateKeys: [], generatePassword: false };
    const diff: DiffEntry[] = [];
    const reasons: string[] = [];
    if (a.identity) {
      const wanted = a.identity.machineId;
      if (wanted) specs.push({ dest: MACHINE_ID, content: `${wanted}\n`, mode: 0o444 });
      else if (!(await currentMachineId(ctx))) {
        plan.generateMachineId = true;
        diff.push({ target: MACHINE_ID, before: (await ctx.fs.readText(MACHINE_ID)) ?? null, after: '(generated once)' });
        reasons.push('generate machine-id (none in the manifest, image ships it empty)');
      }
    }
    if (a.ssh) {
      for (const t of KEY_TYPES) {
        const given = a.ssh.hostKeys?.[t];
        const path = hostKeyPath(t);
        if (given) {
          specs.push({ dest: path, content: withNl(given.private), mode: 0o600, secret: true });
          specs.push({ dest: `${path}.pub`, content: withNl(given.public), mode: 0o644 });
        } else if (!(await ctx.fs.exists(path)) || !(await ctx.fs.exists(`${path}.pub`))) {
          plan.generateKeys.push(t);
          diff.push({ target: path, before: null, after: '(generated once)' });
        }
      }
      if (plan.generateKeys.length) reasons.push(`generate SSH host keys ${plan.generateKeys.join(', ')}`);
    }
    if (a.nodePassword !== undefined) {
      if (a.nodePassword) specs.push({ dest: NODE_PASSWORD, content: withNl(a.nodePassword), mode: 0o600, secret: true });
      else if (!(await ctx.fs.exists(NODE_PASSWORD))) {
        plan.generatePassword = true;
        diff.push({ target: NODE_PASSWORD, before: null, after: REDACTED });
        reasons.push('generate k3s node password');
      }
    }
    const files = await checkFiles(ctx, specs);
    plan.files = files.plans;
    diff.unshift(...files.diff);
    reasons.unshift(...files.reasons);
    if (diff.length === 0) return { status: 'ok' };
    return { status: 'change', reason: reasons.join('; '), diff, plan };
  },
  async apply(_a, ctx, { plan }) {
    const p = plan!;
    await applyFiles(ctx, p.files);
    const facts: Record<string, unknown> = {};
    if (p.generateMachineId) {
      // What systemd-machine-id-setup does on first boot: a random v4-style id, 0444.
      const id = randomBytes(16);
      id[6] = (id[6]! & 0x0f) | 0x40;
      id[8] = (id[8]! & 0x3f) | 0x80;
      await ctx.fs.write(MACHINE_ID, `${id.toString('hex')}\n`, { mode: 0o444 });
      facts.machineIdGenerated = id.toString('hex');
    }
    for (const t of p.generateKeys) {
      const path = hostKeyPath(t);
      await ctx.fs.mkdir('/etc/ssh');
      await ctx.fs.remove(path);
      await ctx.fs.remove(`${path}.pub`);
      await ctx.exec('ssh-keygen', ['-q', '-t', t, '-N', '', '-C', '', '-f', ctx.fs.abs(path)]);
      const fp = await ctx.exec('ssh-keygen', ['-l', '-f', ctx.fs.abs(`${path}.pub`)]);
      facts[`sshHostKey.${t}`] = `generated ${fp.stdout.split(' ')[1] ?? ''}`;
    }
    if (p.generatePassword) {
      await ctx.fs.write(NODE_PASSWORD, `${randomBytes(16).toString('hex')}\n`, { mode: 0o600 });
      facts.nodePassword = 'generated (kept in /etc/rancher/node/password)';
    }
    return Object.keys(facts).length ? { facts } : undefined;
  },
};
