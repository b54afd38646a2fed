import { describe, expect, it } from 'vitest';
import { clusterSchema } from '../../src/inventory/schema.js';
import { resolveFlasher } from '../../src/remote/flashers.js';
import { agentArgv } from '../../src/remote/run-agent.js';
import type { HostFacts } from '../../src/remote/probe.js';
import { lineReader } from '../../src/remote/protocol.js';
import { exitCodeOf } from '../../src/burner/commands/exit-codes.js';
import { RemoteAgentError, HostError } from '../../src/remote/errors.js';
import { SshError } from '../../src/lib/ssh.js';

const facts = (privilege: HostFacts['privilege']): HostFacts => ({ uid: 1000, user: 'pi', home: '/home/pi', node: '/usr/bin/node', nodeVersion: '18.20.4', privilege, cacheDir: '/home/pi/.cache/metis-flasher', bundleSha256: '', bundlePath: '/home/pi/.cache/metis-flasher/agent/metis-x.cjs', cached: new Set<string>() });
const o = { sha256: 'a'.repeat(64), target: '/dev/sdb', kind: 'device' as const, verify: true };

describe('flashers', () => {
  it('a cluster.yaml name resolves to its ssh target and cache; anything else parses as [USER@]HOST[:PORT]', () => {
    const fl = { 'titan-22': { ssh: 'pi@10.0.0.22:2222', cache: '/var/cache/metis' } };
    expect(resolveFlasher('titan-22', fl)).toEqual({ name: 'titan-22', target: { user: 'pi', host: '10.0.0.22', port: 2222 }, cacheDir: '/var/cache/metis' });
    expect(resolveFlasher('root@titan-23', fl)).toEqual({ name: 'root@titan-23', target: { user: 'root', host: 'titan-23' } });
  });
  it.each([
    [{ x: { ssh: 'bad host' } }, 'flashers.x.ssh'],
    [{ x: { ssh: 'h', cache: 'relative' } }, 'flashers.x.cache'],
    [{ x: { ssh: 'h', extra: 1 } }, 'flashers.x'],
    [{ '-x': { ssh: 'h' } }, 'flashers.-x'],
  ])('cluster.yaml flashers %j is refused at %s', (flashers, path) => {
    const r = clusterSchema.safeParse({ serverUrl: 'https://10.0.0.1:6443', token: 'env:T', flashers });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path.join('.'))).toContain(path);
  });
});

describe('the agent command line', () => {
  it('root: no sudo; passwordless: sudo -n; password: sudo -S with an empty prompt (the password is never in argv)', () => {
    expect(agentArgv(facts('root'), o).slice(0, 2)).toEqual(['/usr/bin/node', facts('root').bundlePath]);
    expect(agentArgv(facts('sudo-nopasswd'), o).slice(0, 3)).toEqual(['sudo', '-n', '--']);
    expect(agentArgv(facts('sudo-password'), o).slice(0, 5)).toEqual(['sudo', '-S', '-p', '', '--']);
    expect(agentArgv(facts('root'), { ...o, verify: false, bmapSha256: 'b'.repeat(64) })).toEqual(expect.arrayContaining(['--no-verify', '--bmap-sha256', 'b'.repeat(64)]));
  });
  it('a first burn follows the receive\'s temp file: --follow PATH --follow-size N, both or neither', () => {
    const tmp = '/home/pi/.cache/metis-flasher/tmp/812-0123456789ab';
    const argv = agentArgv(facts('sudo-password'), { ...o, follow: { path: tmp, size: 98566144 } });
    expect(argv.slice(argv.indexOf('--follow'))).toEqual(['--follow', tmp, '--follow-size', '98566144']);
    expect(agentArgv(facts('sudo-password'), o).some((a) => a.startsWith('--follow'))).toBe(false);
  });
});

describe('protocol and exit codes', () => {
  it('lineReader yields complete lines across chunk boundaries', () => {
    const got: string[] = [];
    const feed = lineReader((l) => got.push(l));
    feed('{"a"');
    feed(':1}\n{"b":2}\n\n{"c"');
    expect(got).toEqual(['{"a":1}', '{"b":2}']);
    feed(':3}\n');
    expect(got).toHaveLength(3);
  });
  it('a remote refusal keeps the code computed on the host; host problems are 7; a bad --host is 2', () => {
    expect(exitCodeOf(new RemoteAgentError('E_TARGET_MOUNTED', 'h', 'x', 22))).toBe(22);
    expect(exitCodeOf(new HostError('E_HOST_NODE', 'h', 'x'))).toBe(7);
    expect(exitCodeOf(new SshError('E_SSH_HOST_KEY', 'h', 'x'))).toBe(7);
    expect(exitCodeOf(new SshError('E_SSH_TARGET', 'h', 'x'))).toBe(2);
  });
});
