import { describe, expect, it } from 'vitest';
import { evalWhen, parseWhen } from '../../../src/bootstrap/engine/when.js';

const data = {
  k3s: { role: 'agent', labels: {}, taints: [] as string[] },
  iscsi: { enabled: true, targets: [] as unknown[] },
  ssh: { port: 2277, authorizedKeys: [{ user: 'root' }] },
  mounts: [{ path: '/mnt/a' }],
  empty: '',
  zero: 0,
  nothing: null,
};

describe('when grammar', () => {
  it.each([
    ['iscsi.enabled', true],
    ['not iscsi.enabled', false],
    ['k3s', true],
    ['k3s.labels', false],
    ['k3s.taints', false],
    ['not k3s.taints', true],
    ['ssh.authorizedKeys', true],
    ['mounts.0.path', true],
    ['mounts.1.path', false],
    ['missing.key', false],
    ['not missing', true],
    ['empty', false],
    ['zero', false],
    ['nothing', false],
    ['k3s.role == "agent"', true],
    ["k3s.role == 'server'", false],
    ['k3s.role != "server"', true],
    ['ssh.port == 2277', true],
    ['ssh.port != 22', true],
    ['iscsi.enabled == true', true],
    ['nothing == null', true],
    ['missing == null', true],
    ['zero == false', false],
  ])('%s → %s', (src, want) => {
    expect(evalWhen(parseWhen(src), data)).toBe(want);
  });

  it.each([
    ['k3s.role == agent', /literal agent/],
    ['k3s.role = "agent"', /cannot parse/],
    ['process.exit(1)', /cannot parse/],
    ['a and b', /cannot parse/],
    ['', /cannot parse/],
    ['k3s.role == "a"b"', /literal/],
  ])('refuses %j', (src, err) => {
    expect(() => parseWhen(src)).toThrow(err);
  });
});
