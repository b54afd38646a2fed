import { describe, expect, it } from 'vitest';
import { assetsFrom } from '../../../src/bootstrap/assets.js';
import { loadTasks, preparseTasks } from '../../../src/bootstrap/engine/load-tasks.js';
import { modules } from '../../../src/bootstrap/modules/index.js';
import { ValidationError } from '../../../src/lib/errors.js';
import { loadAssets, readAssetDir } from '../../../src/bootstrap/assets.js';

const ok = '- name: first\n  directory: { path: /etc/metis }\n';

describe('task files', () => {
  it('loads the repo tasks and handlers', () => {
    const { tasks, handlers } = loadTasks(loadAssets(), modules);
    expect(tasks.length).toBeGreaterThan(3);
    expect(tasks[0]!.file).toMatch(/^tasks\/\d\d-/);
    expect(handlers.map((h) => h.name)).toContain('reload sshd');
    expect(tasks.filter((t) => t.tags.includes('early')).map((t) => t.name)).toContain('hostname');
  });

  it('task files parsed ahead (as the bundle carries them) load exactly as from their text', () => {
    const repo = readAssetDir(process.cwd());
    const flat: Record<string, string> = {};
    for (const t of [...repo.tasks, ...(repo.handlers ? [repo.handlers] : [])]) flat[`tasks/${t.file}`] = t.text;
    // Through JSON, as the bundle embeds them.
    const parsed = JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(flat).map(([n, t]) => [n, preparseTasks(t, n)]))));
    const ahead = assetsFrom(flat, parsed);
    expect(ahead.tasks.every((t) => t.parsed !== undefined)).toBe(true);
    expect(loadTasks(ahead, modules)).toEqual(loadTasks(assetsFrom(flat), modules));
  });

  it('invalid data parsed ahead still fails with the text path\'s error (file, line, path)', () => {
    const bad = `${ok}- name: x\n  coppy: { dest: /a }\n`;
    const flat = { 'tasks/10-a.yaml': bad };
    const parsed = { 'tasks/10-a.yaml': preparseTasks(bad, 'tasks/10-a.yaml') };
    const err = (a: ReturnType<typeof assetsFrom>) => {
      try {
        loadTasks(a, modules);
      } catch (e) {
        return e as ValidationError;
      }
      throw new Error('no error');
    };
    const e = err(assetsFrom(flat, parsed));
    expect(e).toBeInstanceOf(ValidationError);
    expect(e.message).toBe(err(assetsFrom(flat)).message);
    expect(e.issues).toEqual(err(assetsFrom(flat)).issues);
  });

  it('keeps file-name order and records lines', () => {
    const { tasks } = loadTasks(assetsFrom({ 'tasks/20-b.yaml': ok, 'tasks/10-a.yaml': `# c\n${ok}${ok.replace('first', 'second')}` }), modules);
    expect(tasks.map((t) => `${t.file}:${t.line}:${t.name}`)).toEqual(['tasks/10-a.yaml:2:first', 'tasks/10-a.yaml:4:second', 'tasks/20-b.yaml:1:first']);
  });

  it.each([
    ['unknown module', `${ok}- name: x\n  coppy: { dest: /a }\n`, '1.coppy', 4],
    ['two modules', `${ok}- name: x\n  file: { dest: /a, content: b }\n  directory: { path: /a }\n`, '1.directory', 5],
    ['no module', `${ok}- name: x\n  tags: [a]\n`, '1', 3],
    ['missing name', `${ok}- directory: { path: /b }\n`, '1.name', 3],
    ['notify not a list', `- name: x\n  directory: { path: /b }\n  notify: reload sshd\n`, '0.notify', 3],
    ['bad tag', `- name: x\n  directory: { path: /b }\n  tags: [Early]\n`, '0.tags.0', 3],
    ['bad when', `- name: x\n  directory: { path: /b }\n  when: a or b\n`, '0.when', 1],
    ['unknown handler', `- name: x\n  directory: { path: /b }\n  notify: [nope]\n`, '0.notify', 1],
    ['not a list', `name: x\n`, '', 1],
    ['yaml syntax', `- name: x\n  directory: { path: /b\n`, '', 3],
  ])('%s → path %s, line %s', (_label, text, path, line) => {
    let err: unknown;
    try {
      loadTasks(assetsFrom({ 'tasks/10-a.yaml': text }), modules);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    const v = err as ValidationError;
    expect(v.file).toBe('tasks/10-a.yaml');
    expect(v.issues[0]!.path).toBe(path);
    expect(v.issues[0]!.line).toBe(line);
    expect(v.message).toContain('tasks/10-a.yaml');
  });

  it('refuses duplicate handler names', () => {
    const h = '- name: h\n  directory: { path: /a }\n';
    expect(() => loadTasks(assetsFrom({ 'tasks/handlers.yaml': h + h }), modules)).toThrow(/duplicate handler name "h"/);
  });
});
