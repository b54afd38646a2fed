import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { assetsFrom } from '../../../src/bootstrap/assets.js';
import { phaseOf } from '../../../src/bootstrap/engine/hooks.js';
import { exitCodeFor, run, type RunOptions } from '../../../src/bootstrap/engine/run.js';
import { exampleManifestText, tempRoot } from '../../helpers/context.js';
import { makeSysroot } from '../sysroot.js';

let root: string;
let cleanup: () => void;
let manifestPath: string;
let logs: string[];

beforeEach(() => {
  ({ root, cleanup } = tempRoot('hhk-hooks-'));
  makeSysroot(root);
  manifestPath = join(root, 'node.yaml');
  logs = [];
});
afterEach(() => cleanup());

/** Built-in task files of three phases (the report lists tasks in the order they ran). */
const assets = () =>
  assetsFrom({
    'tasks/10-hostname.yaml': `- name: hostname marker\n  file: { dest: /etc/order-hostname, content: "1" }\n`,
    'tasks/40-mounts.yaml': `- name: mounts marker\n  file: { dest: /etc/order-mounts, content: "1" }\n`,
    'tasks/60-k3s.yaml': `- name: k3s marker\n  file: { dest: /etc/order-k3s, content: "1" }\n`,
    'tasks/handlers.yaml': `- name: reload sshd\n  service: { name: ssh.service, state: reloaded }\n- name: restart journald\n  service: { name: systemd-journald.service, state: restarted }\n- name: restart k3s\n  service: { name: k3s.service, state: restarted }\n- name: restart iscsid\n  service: { name: iscsid.service, state: restarted }\n`,
  });

function opts(extra: Partial<RunOptions> = {}): RunOptions {
  const logDest = new Writable({ write: (c, _e, cb) => (logs.push(String(c)), cb()) });
  return { root, manifestPath, checkMode: false, assets: assets(), logDest, nodeReport: false, ...extra };
}

const HOOKS = `files:
  - path: /etc/fan.conf
    content: "literal {{not rendered}}\\n"
    mode: "0640"
    after: hostname
    notify: [fan changed]
  - path: /etc/fan-node.conf
    template: "node={{node.hostname}} curve={{curve}}\\n"
    vars: { curve: quiet }
tasks:
  - name: early hook
    file: { dest: /etc/hook-early, content: "{{node.hostname}}" }
    before: mounts
  - name: late hook
    file: { dest: /etc/hook-late, content: x }
    after: k3s
handlers:
  - name: fan changed
    file: { dest: /etc/fan-handler-ran, content: "yes" }
`;

describe('hooks: files, tasks and handlers from the manifest', () => {
  it('run at their anchors, files first; content as written, templates rendered with vars; a notified handler runs once; converges', async () => {
    writeFileSync(manifestPath, `${exampleManifestText}\n${HOOKS}`);
    const first = await run(opts());
    expect(first.error).toBeUndefined();
    expect(exitCodeFor(first)).toBe(2);
    expect(first.tasks.map((t) => t.name)).toEqual([
      'hostname marker',
      'file /etc/fan.conf',
      'early hook',
      'mounts marker',
      'file /etc/fan-node.conf', // default anchor: before k3s
      'k3s marker',
      'late hook',
      'fan changed',
    ]);
    expect(readFileSync(join(root, 'etc/fan.conf'), 'utf8')).toBe('literal {{not rendered}}\n');
    expect(statSync(join(root, 'etc/fan.conf')).mode & 0o777).toBe(0o640);
    expect(readFileSync(join(root, 'etc/fan-node.conf'), 'utf8')).toBe('node=titan-13 curve=quiet\n');
    expect(readFileSync(join(root, 'etc/hook-early'), 'utf8')).toBe('titan-13');
    expect(readFileSync(join(root, 'etc/fan-handler-ran'), 'utf8')).toBe('yes');
    const again = await run(opts());
    expect(exitCodeFor(again)).toBe(0);
    expect(again.tasks.find((t) => t.name === 'fan changed')).toBeUndefined();
  });

  it('a hook file that would hold a secret must be 0600; the secret is in no output', async () => {
    const token = /token: (\S+)/.exec(exampleManifestText)![1]!;
    writeFileSync(manifestPath, `${exampleManifestText}\nfiles:\n  - path: /etc/fan-token\n    template: "{{k3s.token}}"\n`);
    const loose = await run(opts());
    expect(exitCodeFor(loose)).toBe(6); // the built-in tasks before it changed
    expect(loose.tasks.find((t) => t.name === 'file /etc/fan-token')).toMatchObject({ status: 'failed', reason: expect.stringMatching(/mode "0600"/) });
    writeFileSync(manifestPath, `${exampleManifestText}\nfiles:\n  - path: /etc/fan-token\n    template: "{{k3s.token}}"\n    mode: "0600"\n`);
    const tight = await run(opts({ diff: true }));
    expect(exitCodeFor(tight)).toBe(2);
    expect(readFileSync(join(root, 'etc/fan-token'), 'utf8')).toBe(token);
    const all = [logs.join(''), JSON.stringify(loose), JSON.stringify(tight), readFileSync(join(root, 'var/lib/metis/last-run.json'), 'utf8')].join('\n');
    expect(all).toContain('[redacted]');
    expect(all.split(token).length - 1).toBe(0);
  });

  it('bad hook args are refused before anything changes, naming the manifest field', async () => {
    writeFileSync(manifestPath, `${exampleManifestText}\ntasks:\n  - name: fine\n    file: { dest: /etc/fine, content: x }\n  - name: bad\n    command: { argv: "echo hi" }\n`);
    const r = await run(opts());
    expect(exitCodeFor(r)).toBe(1);
    expect(r.error).toMatch(/node\.yaml.*tasks\.1\.command\.argv.*shell command/s);
    expect(() => statSync(join(root, 'etc/fine'))).toThrow();
    expect(() => statSync(join(root, 'etc/order-hostname'))).toThrow();
  });

  it('a bad when in a hook is refused naming the field', async () => {
    writeFileSync(manifestPath, `${exampleManifestText}\ntasks:\n  - name: odd\n    file: { dest: /etc/odd, content: x }\n    when: k3s.role = agent\n`);
    const r = await run(opts());
    expect(exitCodeFor(r)).toBe(1);
    expect(r.error).toMatch(/tasks\.0\.when.*cannot parse when/s);
  });

  it('phaseOf names a task file by its phase', () => {
    expect(phaseOf('tasks/99-scrub-secrets.yaml')).toBe('scrub-secrets');
    expect(phaseOf('tasks/35-boot.yaml')).toBe('boot');
  });
});
