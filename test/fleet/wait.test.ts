import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/burner/commands/wait.js';
import { recogniseJournal } from '../../src/fleet/wait.js';

describe('wait: journal diagnostics', () => {
  it.each([
    ['level=fatal msg="starting kubernetes: preparing server: failed to validate token: token CA hash does not match the Cluster CA certificate hash: abc != def"', /another cluster \(CA hash mismatch\)/],
    ['Waiting to retrieve agent configuration; server is not ready: Node password rejected, duplicate hostname or contents of \'/etc/rancher/node/password\' may not match server node-passwd entry', /refused the node password/],
    ['failed to get CA certs: Get "https://127.0.0.1:6444/cacerts": net/http: TLS handshake timeout', /127\.0\.0\.1:6444.*TLS handshake timeouts/],
    ['Started Lightweight Kubernetes.', null],
  ])('%s', (line, want) => {
    const got = recogniseJournal(`Dec 02 08:00:00 titan-13 k3s[812]: ${line}\n`);
    if (want === null) expect(got).toBeNull();
    else expect(got).toMatch(want);
  });
});

describe('wait: durations', () => {
  it.each([
    ['90s', 90_000],
    ['15m', 900_000],
    ['1h', 3_600_000],
    ['30', 30_000],
    ['500ms', 500],
  ])('%s', (s, ms) => expect(parseDuration(s, '--timeout')).toBe(ms));
  it('refuses garbage naming the flag', () => expect(() => parseDuration('soon', '--timeout')).toThrow(/--timeout must be a duration/));
});
