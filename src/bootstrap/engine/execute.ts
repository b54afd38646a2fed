import { describePublicKey } from '../../core/ssh-key.js';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { errorMessage, MetisError } from '../../lib/errors.js';
import { iqn } from '../../manifest/fields.js';
import type { Action, Generated, Validator } from '../actions.js';
import { validateSshd } from '../modules/sshd.js';
import { hasUnitFile } from '../facts/systemd.js';
import { inRootArgv, resolveEnv } from './in-root.js';
import { apiMessage, nodePath } from '../node-api.js';
import type { Context, FactValue } from '../types.js';

/** Files whose change systemd must re-read before a unit starts: unit files and fstab (its generator). */
const RELOAD_PATH = /^(\/(etc|run|usr\/lib|lib)\/systemd\/system\/|\/etc\/fstab$)/;

/** Per-context bookkeeping of the daemon-reload policy: how many reload-relevant changes were already reloaded. */
const reloaded = new WeakMap<Context, number>();
/** Unit files and fstab removed or renamed by this run's actions: systemd must forget them as surely as re-read a written one. */
const unlinked = new WeakMap<Context, string[]>();
/** Contexts that enabled or disabled a unit since their last reload (`enable --no-reload`): settle reloads once for all of them. */
const enabledSinceReload = new WeakSet<Context>();
/** Start jobs queued with --no-block and not yet awaited (settleActions). */
const queued = new WeakMap<Context, string[]>();

function noteUnlinked(ctx: Context, ...paths: string[]): void {
  const hit = paths.filter((p) => RELOAD_PATH.test(p));
  if (hit.length) unlinked.set(ctx, [...(unlinked.get(ctx) ?? []), ...hit]);
}

/**
 * The one place a plan touches the machine: every action goes through ctx (the rooted fs, the
 * one exec helper), in order; the first failing action throws and the task fails. Returns the
 * facts the actions produced (generated values that are not secret, command outputs asked for).
 */
export async function executeActions(actions: readonly Action[], ctx: Context): Promise<Record<string, FactValue>> {
  const facts: Record<string, FactValue> = {};
  for (const a of actions) {
    switch (a.kind) {
      case 'write': {
        let content: string;
        if (typeof a.content === 'string') content = a.content;
        else {
          const value = await generate(a.content.generate, ctx);
          content = a.content.generate === 'iscsi-initiator' ? `InitiatorName=${value}\n` : `${value}\n`;
          if (a.fact) facts[a.fact] = a.secret ? `generated (kept in ${a.path})` : value;
        }
        const st = await ctx.fs.stat(a.path);
        await ctx.fs.write(a.path, content, { mode: a.mode, uid: a.uid ?? st?.uid, gid: a.gid ?? st?.gid, validate: validator(a.validate, ctx) });
        break;
      }
      case 'mkdir':
        await ctx.fs.mkdir(a.path, a.mode);
        break;
      case 'chmod':
        await ctx.fs.chmod(a.path, a.mode);
        break;
      case 'chown':
        await ctx.fs.chown(a.path, a.uid, a.gid);
        break;
      case 'rename':
        await ctx.fs.rename(a.from, a.to);
        noteUnlinked(ctx, a.from, a.to);
        break;
      case 'remove':
        await ctx.fs.remove(a.path);
        noteUnlinked(ctx, a.path);
        break;
      case 'run': {
        const [cmd, ...args] = a.inRoot ? inRootArgv(ctx, a.argv, a.cwd) : a.argv;
        const ok = a.okCodes ?? [0];
        const env = resolveEnv(ctx, a.env);
        const r = await ctx.exec(cmd!, args, { input: a.input, timeoutMs: a.timeoutMs, allowFailure: true, ...(env ? { env } : {}) });
        if (ok !== 'any' && !ok.includes(r.exitCode)) {
          const stderr = ctx.redact.text(r.stderr).trim().split('\n').slice(-3).join(' ');
          throw new MetisError('E_EXEC', `${ctx.redact.text(a.argv.join(' '))} exited ${r.exitCode}${stderr ? `: ${stderr}` : ''}`);
        }
        if (a.fact) facts[a.fact] = r.stdout.trim();
        break;
      }
      case 'parallel': {
        // Every group runs to its end; the first failure (in group order) is the task's.
        const done = await Promise.allSettled(a.groups.map((g) => executeActions(g, ctx)));
        const failed = done.find((d): d is PromiseRejectedResult => d.status === 'rejected');
        if (failed) throw failed.reason;
        for (const d of done) if (d.status === 'fulfilled') Object.assign(facts, d.value);
        break;
      }
      case 'fingerprint':
        facts[a.fact] = describePublicKey((await ctx.fs.readText(a.path)) ?? '', a.path);
        break;
      case 'node-labels': {
        const api = ctx.facts.nodeApi(join(ctx.root, a.kubeconfig), ctx.root);
        try {
          const r = await api.request('PATCH', nodePath(a.node), { metadata: { labels: a.labels } });
          if (r.status !== 200) throw new MetisError('E_KUBE', `patch Node ${a.node} labels: ${apiMessage(r)}`);
        } finally {
          // The run's read of the Node is stale now (the report reads it again).
          api.forget(a.node);
        }
        break;
      }
      case 'state':
        await ctx.host.mkdir(ctx.stateDir, 0o700);
        await ctx.host.write(join(ctx.stateDir, a.file), a.content, { mode: 0o600, uid: 0, gid: 0 });
        break;
      case 'daemon-reload':
        await daemonReload(ctx);
        break;
      case 'systemctl':
        await systemctl(a, ctx);
        break;
    }
  }
  return facts;
}

/**
 * The one daemon-reload policy: live only, and only when a unit file or fstab was written, removed
 * or renamed since the last reload of this run, so a run reloads at most once per batch of unit
 * changes (usually once, often never). A removed drop-in counts: without the reload systemd keeps
 * acting on the drop-in that is gone (a removed RequiresMountsFor= would still hold k3s back).
 * `enablement`: also when a unit was enabled or disabled since (settleActions, once per run).
 */
export async function daemonReload(ctx: Context, opts: { enablement?: boolean } = {}): Promise<boolean> {
  if (!ctx.live) return false;
  const written = ctx.fs.written.filter((p) => RELOAD_PATH.test(p)).length + (unlinked.get(ctx)?.length ?? 0);
  if (written <= (reloaded.get(ctx) ?? 0) && !(opts.enablement && enabledSinceReload.has(ctx))) return false;
  await ctx.exec('systemctl', ['daemon-reload']);
  reloaded.set(ctx, written);
  enabledSinceReload.delete(ctx);
  return true;
}

/**
 * enable/disable: live with --no-reload (systemctl's own reload after each, several seconds under
 * emulation, is not needed to start a unit whose file did not change; the wants symlinks only
 * matter to this boot's manager at the run's one reload in settleActions, and to the next boot).
 */
async function systemctl(a: Extract<Action, { kind: 'systemctl' }>, ctx: Context): Promise<void> {
  const { verb, unit } = a;
  ctx.facts.forget({ unit });
  if (verb === 'enable' || verb === 'disable') {
    if (!ctx.live) return void (await ctx.exec('systemctl', [`--root=${ctx.root}`, verb, '--', unit]));
    // A unit with a native file: systemd ignores a SysV script of the same name, so enabling it
    // need not run systemd-sysv-install (update-rc.d, a Perl run: 6 s of a first boot under
    // emulation for iscsid, whose package ships /etc/init.d/iscsid too). SysV-only keeps the hook.
    const env = (await hasUnitFile(ctx.fs, unit)) ? { env: { SYSTEMCTL_SKIP_SYSV: '1' } } : {};
    await ctx.exec('systemctl', [verb, '--no-reload', '--', unit], env);
    enabledSinceReload.add(ctx);
    return;
  }
  if (!ctx.live) throw new MetisError('E_NOT_LIVE', `systemctl ${verb} ${unit}: needs a live system (planned on one that is not)`);
  await daemonReload(ctx);
  if (a.noBlock && verb === 'start') {
    await ctx.exec('systemctl', ['start', '--no-block', '--', unit]);
    queued.set(ctx, [...(queued.get(ctx) ?? []), unit]);
  } else await ctx.exec('systemctl', [verb, '--', unit]);
}

/**
 * The end of a batch of tasks (engine/apply.ts): one daemon-reload for what changed since the last
 * (unit files, fstab, enablements), so the manager leaves the run in step with the disk; then the
 * start jobs queued with --no-block, awaited together. A blocking `systemctl
 * start` of the same unit joins the queued job (systemd merges them) and returns its result; a unit
 * that is already up returns at once. Returns unit → why it did not come up; never throws.
 */
export async function settleActions(ctx: Context): Promise<Map<string, string>> {
  const failed = new Map<string, string>();
  if (!ctx.live || ctx.checkMode) return failed;
  const units = [...new Set(queued.get(ctx) ?? [])];
  queued.delete(ctx);
  // The reload first: a reload while systemctl waits for a job's end is a needless risk.
  try {
    await daemonReload(ctx, { enablement: true });
  } catch (e) {
    failed.set('daemon-reload', errorMessage(e));
  }
  await Promise.all(
    units.map(async (unit) => {
      ctx.facts.forget({ unit });
      const r = await ctx.exec('systemctl', ['start', '--', unit], { allowFailure: true, timeoutMs: 300_000 }).catch((e: unknown) => ({ exitCode: 1, stderr: errorMessage(e) }));
      if (r.exitCode !== 0) failed.set(unit, `${unit} did not come up: systemctl start exited ${r.exitCode}${r.stderr.trim() ? `: ${ctx.redact.text(r.stderr).trim().split('\n').slice(-2).join(' ')}` : ''}`);
    }),
  );
  return failed;
}

function validator(v: Validator | undefined, ctx: Context): ((tmp: string) => Promise<void>) | undefined {
  if (!v) return undefined;
  if ('sshd' in v) return (tmp) => validateSshd(ctx, tmp);
  return async (tmp) => {
    const [cmd, ...rest] = v.argv.map((x) => x.split('%s').join(tmp));
    await ctx.exec(cmd!, rest);
  };
}

async function generate(kind: Generated, ctx: Context): Promise<string> {
  if (kind === 'machine-id') {
    // What systemd-machine-id-setup does on first boot: a random v4-style id.
    const id = randomBytes(16);
    id[6] = (id[6]! & 0x0f) | 0x40;
    id[8] = (id[8]! & 0x3f) | 0x80;
    return id.toString('hex');
  }
  if (kind === 'password') return randomBytes(16).toString('hex');
  if (ctx.live) {
    const r = await ctx.exec('iscsi-iname', [], { allowFailure: true }).catch(() => null);
    const name = r?.exitCode === 0 ? r.stdout.trim() : '';
    if (iqn.safeParse(name).success) return name;
  }
  return `iqn.1993-08.org.debian:01:${randomBytes(6).toString('hex')}`;
}
