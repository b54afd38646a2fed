import { describe, expect, it } from 'vitest';
import { createRenderer } from '../../../src/bootstrap/engine/render.js';
import { helpers } from '../../../src/bootstrap/engine/helpers.js';

const data = {
  ssh: { port: 2277, keys: ['a', 'b'] },
  network: { ipv4: { address: '192.168.22.13/24' }, dns: ['1.1.1.1', '9.9.9.9'] },
  node: { hostname: 'titan-13' },
  html: '<a & "b">',
};

describe('renderer', () => {
  const r = createRenderer();
  it.each([
    ['{{ssh.port}}', 2277],
    ['{{ ssh.keys }}', ['a', 'b']],
    ['{{network.ipv4}}', { address: '192.168.22.13/24' }],
    ['port {{ssh.port}}', 'port 2277'],
    ['{{cidrAddress network.ipv4.address}}', '192.168.22.13'],
    ['{{cidrPrefix network.ipv4.address}}', '24'],
    ['{{join network.dns ","}}', '1.1.1.1,9.9.9.9'],
    ['{{join network.dns}}', '1.1.1.1 9.9.9.9'],
    ['{{json ssh.keys}}', '["a","b"]'],
    ['{{html}}', '<a & "b">'],
    ['x{{html}}', 'x<a & "b">'],
    ['no template', 'no template'],
  ])('%s', (tpl, want) => {
    expect(r.value(tpl, data, 'test')).toEqual(want);
  });

  it('renders nested args', () => {
    expect(r.value({ a: ['{{node.hostname}}', 3], b: { c: '{{ssh.port}}' } }, data, 't')).toEqual({ a: ['titan-13', 3], b: { c: 2277 } });
  });

  // Block helpers (#each/#if) treat a missing list as empty, as handlebars does even in strict mode.
  it.each([['{{node.missing}}'], ['x {{node.missing}}'], ['{{join nope ","}}'], ['{{cidrAddress network.ipv6.address}}'], ['{{json nope}}']])('missing variable in %s is an error naming the task', (tpl) => {
    expect(() => r.value({ k: tpl }, data, 'tasks/10-x.yaml:3 (task "x")')).toThrow(/tasks\/10-x\.yaml:3 \(task "x"\)/);
  });

  it('yaml helper', () => {
    expect(r.text('{{yaml ssh}}', data, 't')).toBe('port: 2277\nkeys:\n  - a\n  - b');
  });

  it('each run gets its own handlebars (helpers registered per instance)', () => {
    expect(Object.keys(helpers)).toEqual(expect.arrayContaining(['json', 'yaml', 'join', 'cidrAddress', 'cidrPrefix']));
    expect(createRenderer()).not.toBe(createRenderer());
  });
});
