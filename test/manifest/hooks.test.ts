import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { modules } from '../../src/bootstrap/modules/index.js';
import { parseManifest } from '../../src/manifest/load.js';
import { BUILTIN_HANDLERS, HOOK_MODULES, PHASES } from '../../src/manifest/hooks.js';
import { ValidationError } from '../../src/lib/errors.js';

const example = readFileSync(new URL('../../examples/node.yaml', import.meta.url), 'utf8');
const repo = new URL('../../', import.meta.url);

function issuesOf(extra: string): Array<{ path: string; message: string }> {
  try {
    parseManifest(`${example}\n${extra}`, 'node.yaml');
  } catch (e) {
    if (e instanceof ValidationError) return e.issues.map((i) => ({ path: i.path, message: i.message }));
    throw e;
  }
  return [];
}

describe('manifest hooks: the lists the schema names match the task files', () => {
  it('PHASES are tasks/NN-<phase>.yaml in order', () => {
    const files = readdirSync(new URL('tasks/', repo)).filter((f) => /^\d+-.*\.yaml$/.test(f)).sort();
    expect(files.map((f) => f.replace(/^\d+-/, '').replace(/\.yaml$/, ''))).toEqual([...PHASES]);
  });

  it('BUILTIN_HANDLERS are the names in tasks/handlers.yaml', () => {
    const handlers = parse(readFileSync(new URL('tasks/handlers.yaml', repo), 'utf8')) as Array<{ name: string }>;
    expect(handlers.map((h) => h.name)).toEqual([...BUILTIN_HANDLERS]);
  });

  it('HOOK_MODULES are modules the bootstrap has', () => {
    for (const m of HOOK_MODULES) expect(Object.keys(modules)).toContain(m);
  });
});

describe('manifest hooks schema: (input, expected error path)', () => {
  it('accepts files, tasks and handlers, with defaults', () => {
    const { manifest } = parseManifest(`${example}\nfiles:\n  - { path: /etc/a, content: x }\ntasks:\n  - name: t\n    command: { argv: [/bin/true] }\n    after: boot\nhandlers:\n  - name: h\n    service: { name: fan.service, state: restarted }\n`);
    expect(manifest.files[0]).toMatchObject({ path: '/etc/a', content: 'x', notify: [], vars: {} });
    expect(manifest.tasks[0]).toMatchObject({ name: 't', after: 'boot', notify: [], tags: [] });
  });

  it.each([
    ['files:\n  - { path: etc/a, content: x }', 'files.0.path', /absolute/],
    ['files:\n  - { path: /etc/a }', 'files.0.content', /exactly one of content and template/],
    ['files:\n  - { path: /etc/a, content: x, template: y }', 'files.0.content', /exactly one/],
    ['files:\n  - { path: /etc/a, content: x, vars: { a: 1 } }', 'files.0.vars', /for a template/],
    ['files:\n  - { path: /etc/a, content: x, mode: 644 }', 'files.0.mode', /string|expected/],
    ['files:\n  - { path: /etc/a, content: x, before: k4s }', 'files.0.before', /must be a phase/],
    ['files:\n  - { path: /etc/a, content: x, before: k3s, after: boot }', 'files.0.after', /not both/],
    ['files:\n  - { path: /etc/a, content: x }\n  - { path: /etc/a, content: y }', 'files.1.path', /duplicate file path \(also files.0.path\)/],
    ['files:\n  - { path: /etc/a, content: x, notify: [nope] }', 'files.0.notify.0', /no handler named "nope"/],
    ['tasks:\n  - name: t\n    network: {}', 'tasks.0.network', /unknown module or key "network"/],
    ['tasks:\n  - name: t', 'tasks.0', /exactly one module key/],
    ['tasks:\n  - name: t\n    command: {}\n    file: {}', 'tasks.0.file', /exactly one module/],
    ['tasks:\n  - name: t\n    command: {}\n  - name: t\n    command: {}', 'tasks.1.name', /duplicate task name/],
    ['tasks:\n  - name: t\n    command: {}\n    after: nowhere', 'tasks.0.after', /must be a phase/],
    ['handlers:\n  - name: restart k3s\n    service: { name: k3s.service }', 'handlers.0.name', /built-in handler/],
    ['handlers:\n  - name: h\n    command: {}\n    before: k3s', 'handlers.0.before', /unknown module or key "before"/],
    ['boot:\n  config:\n    all: [arm_boost]', 'boot.config.all.0', /key=value/],
  ])('%s → %s', (extra, path, message) => {
    const issues = issuesOf(extra);
    const hit = issues.find((i) => i.path === path);
    expect(hit, JSON.stringify(issues)).toBeDefined();
    expect(hit!.message).toMatch(message);
  });

  it('a node manifest without hooks still round-trips (empty lists)', () => {
    const { manifest } = parseManifest(example);
    expect([manifest.files, manifest.tasks, manifest.handlers, manifest.boot]).toEqual([[], [], [], undefined]);
  });
});
