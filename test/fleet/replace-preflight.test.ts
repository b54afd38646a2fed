import { describe, expect, it } from 'vitest';
import { checkSkew, etcdMember } from '../../src/fleet/preflight.js';
import { nodeObject } from '../helpers/kube.js';

describe('version skew (kubelet up to three minors older, never newer)', () => {
  it.each([
    ['v1.31.5+k3s1', 'v1.31.5+k3s1', null],
    ['v1.28.9+k3s1', 'v1.31.5+k3s1', null],
    ['v1.27.9+k3s1', 'v1.31.5+k3s1', /4 minors older/],
    ['v1.32.0+k3s1', 'v1.31.5+k3s1', /newer than the API server/],
    ['v2.31.0+k3s1', 'v1.31.5+k3s1', /major version/],
  ])('%s against %s', (pinned, server, want) => {
    const got = checkSkew(pinned, server);
    if (want === null) expect(got).toBeNull();
    else expect(got).toMatch(want);
  });
});

describe('etcd membership as the API shows it', () => {
  const ann = { 'etcd.k3s.cattle.io/node-name': 'titan-0a-1a2b3c4d' };
  it.each([
    ['etcd role + member name', nodeObject('a', { labels: { 'node-role.kubernetes.io/etcd': 'true' }, annotations: ann }), true],
    ['no member name', nodeObject('a', { labels: { 'node-role.kubernetes.io/etcd': 'true' } }), false],
    ['agent', nodeObject('a', { annotations: ann }), false],
    ['removed', nodeObject('a', { labels: { 'node-role.kubernetes.io/etcd': 'true' }, annotations: { ...ann, 'etcd.k3s.cattle.io/removed-node-name': 'titan-0a-1a2b3c4d' } }), false],
  ])('%s', (_n, node, want) => expect(etcdMember(node)).toBe(want));
});
