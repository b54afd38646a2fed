import { parse, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/lib/errors.js';
import { parseManifest, validateManifest } from '../../src/manifest/load.js';
import { exampleManifestText } from '../helpers/context.js';

type Doc = Record<string, any>;
const base = (): Doc => parse(exampleManifestText);
const key = (m: Doc) => m.ssh.authorizedKeys[0].keys[0] as string;
const privateKey = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n';

function refusedAt(change: (m: Doc) => void): string[] {
  const m = base();
  change(m);
  const text = stringify(m, { lineWidth: 0 });
  try {
    parseManifest(text, 'node.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    // The same refusal for a manifest merged from the inventory (no YAML text involved).
    expect(() => validateManifest(parse(text), 'nodes/titan-13.yaml')).toThrow(ValidationError);
    return (e as ValidationError).issues.map((i) => i.path);
  }
  throw new Error('accepted');
}

/** Values that end up in generated files (fstab, units, drop-ins, key files, config): refused, the field named. */
describe('values are valid for every file they land in', () => {
  it.each<[string, (m: Doc) => void, string]>([
    ['a newline in a mount path (a line added to fstab)', (m) => (m.mounts[0].path = '/mnt/a\n/dev/sda1 / ext4 defaults 0 0'), 'mounts.0.path'],
    ['a space in a mount path (breaks the fstab entry)', (m) => (m.mounts[0].path = '/mnt/my disk'), 'mounts.0.path'],
    ['a tab in a mount path', (m) => (m.mounts[0].path = '/mnt/a\tb'), 'mounts.0.path'],
    ['a newline in the k3s binary path (an ExecStartPre= added)', (m) => (m.k3s.binary = '/usr/local/bin/k3s\nExecStartPre=/bin/sh -c id'), 'k3s.binary'],
    ['a space in the k3s binary path (split into arguments)', (m) => (m.k3s.binary = '/opt/my k3s/k3s'), 'k3s.binary'],
    ['a % specifier in the k3s binary path', (m) => (m.k3s.binary = '/opt/%n/k3s'), 'k3s.binary'],
    ['a newline in a journald time span (a line added to the drop-in)', (m) => (m.journald.maxRetentionSec = '2week\nStorage=none'), 'journald.maxRetentionSec'],
    ['a trailing newline in a journald time span', (m) => (m.journald.maxRetentionSec = '5\n'), 'journald.maxRetentionSec'],
    ['a newline in the k3s token (token file)', (m) => (m.k3s.token = `${m.k3s.token}\nx`), 'k3s.token'],
    ['a newline in the node password (password file)', (m) => (m.k3s.nodePassword = 'abcdefgh\nsecond'), 'k3s.nodePassword'],
    ['a newline in the server URL (config.yaml)', (m) => (m.k3s.serverUrl = 'https://192.168.22.10:6443\n'), 'k3s.serverUrl'],
    ['a control character in a kubelet arg', (m) => (m.k3s.kubeletArgs = ['max-pods=1\u0007']), 'k3s.kubeletArgs.0'],
    ['a carriage return in an authorized key comment', (m) => (m.ssh.authorizedKeys[0].keys[0] = `${key(m)}\rcommand="id"`), 'ssh.authorizedKeys.0.keys.0'],
    ['a newline in a host public key', (m) => (m.ssh.hostKeys = { ed25519: { private: privateKey, public: `${key(m)}\nssh-ed25519 AAAA evil` } }), 'ssh.hostKeys.ed25519.public'],
    ['a NUL in a host private key', (m) => (m.ssh.hostKeys = { ed25519: { private: `${privateKey}\u0000`, public: key(m) } }), 'ssh.hostKeys.ed25519.private'],
    ['a control character in the initiator name', (m) => (m.identity.iscsiInitiatorName = 'iqn.2004-10.com.ubuntu:01:a\u001bb'), 'identity.iscsiInitiatorName'],
    ['a control character in an iSCSI target name', (m) => (m.iscsi.targets = [{ portal: '192.168.22.5', iqn: 'iqn.2004-10.com.x:t\u0001' }]), 'iscsi.targets.0.iqn'],
    ['a newline in the burn stamp', (m) => (m.burn = { metisVersion: '0.1.0\nx', burnedAt: '2026-01-01' }), 'burn.metisVersion'],
    ['a newline in the burned image ref', (m) => (m.burn = { metisVersion: '0.1.0', burnedAt: '2026-01-01', image: 'a\nb' }), 'burn.image'],
  ])('%s', (_name, change, path) => {
    expect(refusedAt(change)).toContain(path);
  });

  it('legal values still pass: a host private key on several lines, a time span with a space', () => {
    const m = base();
    m.ssh.hostKeys = { ed25519: { private: privateKey, public: key(m) } };
    m.journald.maxRetentionSec = '2 week';
    expect(parseManifest(stringify(m), 'node.yaml').manifest.journald.maxRetentionSec).toBe('2 week');
  });
});

describe('secrets in errors of a manifest that does not validate', () => {
  const token = 'K10627b0deae6aed09986b3c90cf5084f949cf959eacb52a17b4cbdcf3b621b5cb0::server:hunter2-very-secret';

  it('a k3s token pasted as a key is not echoed in the "unknown key" error', () => {
    const text = exampleManifestText.replace(/^  token: .*$/m, `  ${token}:`);
    const e = (() => { try { parseManifest(text, 'node.yaml'); } catch (err) { return err as ValidationError; } })()!;
    expect(e).toBeInstanceOf(ValidationError);
    expect(e.message).not.toContain('hunter2-very-secret');
    expect(e.message).toMatch(/unknown key \[a key of \d+ characters, not shown\]/);
  });

  it('a secret value in a manifest that fails elsewhere is redacted from every message', () => {
    const m = base();
    m.k3s.nodePassword = 'hunter2-very-secret';
    m.k3s.extra = 'hunter2-very-secret';
    m.node.hostname = 'Bad_Host';
    let msg = '';
    try {
      parseManifest(stringify(m), 'node.yaml');
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/k3s.extra|hostname/);
    expect(msg).not.toContain('hunter2-very-secret');
  });
});
