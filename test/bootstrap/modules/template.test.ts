import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { templateModule } from '../../../src/bootstrap/modules/template.js';
import { loadAssets } from '../../../src/bootstrap/assets.js';
import { useSysroot } from '../sysroot.js';
import { convergeLoop, makeContext } from '../../helpers/context.js';

let root: string;
useSysroot('metis-mod-template-', (r) => (root = r), { debian: false });

const templates = new Map([
  ['t/hosts.hbs', '# {{node.hostname}} <{{node.class}}>\n{{#each network.dns}}nameserver {{this}}\n{{/each}}addr {{cidrAddress network.ipv4.address}}/{{cidrPrefix network.ipv4.address}} {{extra}}\n'],
  ['t/missing.hbs', '{{node.nope}}\n'],
]);

describe('template module', () => {
  it('renders against the manifest (no HTML escaping) and converges', async () => {
    const ctx = makeContext({ root, templates });
    await convergeLoop(templateModule, { src: 't/hosts.hbs', dest: '/etc/t.conf', mode: '0600', vars: { extra: 'a&b' } }, ctx);
    expect(readFileSync(join(root, 'etc/t.conf'), 'utf8')).toBe(
      '# titan-13 <rpi4-longhorn>\nnameserver 192.168.22.1\nnameserver 1.1.1.1\naddr 192.168.22.13/24 a&b\n',
    );
  });

  it('a missing variable is an error naming the template', async () => {
    const ctx = makeContext({ root, templates });
    await expect(templateModule.check(templateModule.args.parse({ src: 't/missing.hbs', dest: '/etc/m' }), ctx)).rejects.toThrow(/templates\/t\/missing\.hbs.*"nope"/);
  });

  it('an unknown template is an error listing what exists', async () => {
    const ctx = makeContext({ root, templates });
    await expect(templateModule.check(templateModule.args.parse({ src: 'nope.hbs', dest: '/etc/m' }), ctx)).rejects.toThrow(/no template "nope.hbs".*t\/hosts.hbs/);
  });

  it('the repo templates all render against the example manifest', async () => {
    const ctx = makeContext({ root, templates: loadAssets().templates });
    expect(ctx.templates.size).toBeGreaterThan(0);
    for (const src of ctx.templates.keys()) {
      const r = await templateModule.check(templateModule.args.parse({ src, dest: `/out/${src}` }), ctx);
      // A missing target is a create: one write of the rendered text, every placeholder filled.
      if (r.status !== 'change') throw new Error(`${src}: ${r.status}`);
      expect(r.reason).toBe(`create /out/${src}`);
      expect(r.actions).toHaveLength(1);
      const w = r.actions[0]!;
      if (w.kind !== 'write' || typeof w.content !== 'string') throw new Error(`${src}: not a write`);
      expect(w.path).toBe(`/out/${src}`);
      expect(w.content.length).toBeGreaterThan(0);
      expect(w.content).not.toMatch(/\{\{|undefined|\[object Object\]/);
      expect(w.content).toContain(ctx.manifest.node.hostname);
    }
  });
});
