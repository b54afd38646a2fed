/**
 * What a plan is made of: typed actions the engine carries out through the context
 * (engine/execute.ts) and prints for `--check --diff`, as pyinfra prints its commands. A module's
 * `check` returns them; it never writes, runs or reloads anything itself.
 */

import type { EnvValue } from './engine/in-root.js';

/** Run against the finished temp file before it replaces the target; a refusal leaves the target untouched. */
export type Validator =
  /** argv with "%s" for the temp file (host path). */
  | { argv: string[] }
  /** `sshd -t` on the whole candidate sshd configuration (modules/sshd.ts). */
  | { sshd: true };

/** Content chosen when the action runs, so `--check` never invents a value (and reports what apply made). */
export type Generated = 'machine-id' | 'password' | 'iscsi-initiator';

export type Action =
  | {
      kind: 'write';
      path: string;
      /** Text, or a value generated at apply time (reported as a fact unless secret). */
      content: string | { generate: Generated };
      mode: number;
      uid?: number;
      gid?: number;
      /** Content is secret: printed as [redacted], never as text. */
      secret?: boolean;
      validate?: Validator;
      /** Fact name the generated value is reported under. */
      fact?: string;
    }
  | { kind: 'mkdir'; path: string; mode: number }
  | { kind: 'chmod'; path: string; mode: number }
  | { kind: 'chown'; path: string; uid: number; gid: number }
  | { kind: 'rename'; from: string; to: string }
  | { kind: 'remove'; path: string }
  | {
      kind: 'run';
      argv: string[];
      input?: string;
      timeoutMs?: number;
      /** Exit codes that count as success (default [0]); 'any' when a later step proves the outcome. */
      okCodes?: number[] | 'any';
      /** Fact name the trimmed stdout is reported under. */
      fact?: string;
      /** Run inside the managed root (chroot on a sysroot) instead of on the host with explicit root paths. */
      inRoot?: boolean;
      /** Working directory (inside the managed root; needs inRoot). */
      cwd?: string;
      /** Extra environment; a `{ secret: PATH }` value is looked up in the manifest only when the command runs. */
      env?: Record<string, EnvValue>;
    }
  /**
   * A JSON merge patch of this node's own Node's labels (null removes one), sent with the node's
   * own kubeconfig (the kubelet's credential; NodeRestriction applies).
   */
  | { kind: 'node-labels'; kubeconfig: string; node: string; labels: Record<string, string | null> }
  /** A file in the run's state dir (0600, root-only), e.g. the keys Metis owns on the Node. */
  | { kind: 'state'; file: string; content: string }
  /** The fact `fact` = an SSH public key file's `ssh-keygen -l` line, computed without a process. */
  | { kind: 'fingerprint'; path: string; fact: string }
  /** Groups run at the same time, each group's actions in order (e.g. three ssh-keygen: RSA's primes on one core while the others run). */
  | { kind: 'parallel'; groups: Action[][] }
  /** systemctl daemon-reload, run only when a unit file (or fstab) was written since the last reload. */
  | { kind: 'daemon-reload' }
  /**
   * enable/disable work on a sysroot too (--root); the others need a live system. `noBlock`
   * (start only): the start job is queued and the run goes on; the run waits for it before the
   * handlers, and a unit that did not come up fails the task that started it (engine/apply.ts).
   */
  | { kind: 'systemctl'; verb: 'enable' | 'disable' | 'start' | 'stop' | 'try-restart' | 'try-reload-or-restart'; unit: string; noBlock?: boolean };

const octal = (m: number): string => `0${(m & 0o7777).toString(8).padStart(3, '0')}`;

/** One line per action, as a person reads it (`--check --diff`); secret contents never appear. */
export function describeAction(a: Action): string {
  switch (a.kind) {
    case 'write': {
      const what = typeof a.content !== 'string' ? `generated ${a.content.generate}` : a.secret ? '[redacted]' : `${Buffer.byteLength(a.content)} bytes`;
      const owner = a.uid !== undefined || a.gid !== undefined ? ` owner ${a.uid ?? '-'}:${a.gid ?? '-'}` : '';
      const check = a.validate ? ` (validated: ${'argv' in a.validate ? a.validate.argv.join(' ') : 'sshd -t on the whole config'})` : '';
      return `write ${a.path} mode ${octal(a.mode)}${owner}: ${what}${check}`;
    }
    case 'mkdir':
      return `mkdir ${a.path} mode ${octal(a.mode)}`;
    case 'chmod':
      return `chmod ${octal(a.mode)} ${a.path}`;
    case 'chown':
      return `chown ${a.uid}:${a.gid} ${a.path}`;
    case 'rename':
      return `rename ${a.from} -> ${a.to}`;
    case 'remove':
      return `remove ${a.path}`;
    case 'run': {
      // Names only: an env value may be a secret, and is never part of what a plan prints.
      const env = a.env && Object.keys(a.env).length ? ` (env: ${Object.entries(a.env).map(([k, v]) => (typeof v === 'string' ? k : `${k}=[secret ${v.secret}]`)).join(', ')})` : '';
      const where = a.cwd ? ` (in ${a.cwd})` : '';
      return `run ${a.argv.map(quoteArg).join(' ')}${where}${env}${a.input !== undefined ? ' (with input)' : ''}`;
    }
    case 'node-labels':
      return `patch Node ${a.node} labels ${Object.entries(a.labels).map(([k, v]) => (v === null ? `${k}-` : `${k}=${v}`)).join(' ')} (with ${a.kubeconfig})`;
    case 'state':
      return `write state ${a.file}`;
    case 'fingerprint':
      return `fingerprint ${a.path}`;
    case 'parallel':
      return `at the same time: ${a.groups.map((g) => `(${g.map(describeAction).join('; ')})`).join(' | ')}`;
    case 'daemon-reload':
      return 'systemctl daemon-reload (if a unit file changed)';
    case 'systemctl':
      return a.noBlock ? `systemctl start --no-block ${a.unit} (its start awaited before the handlers)` : `systemctl ${a.verb} ${a.unit}`;
  }
}

function quoteArg(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
