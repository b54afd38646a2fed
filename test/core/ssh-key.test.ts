import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describePublicKey, fingerprint } from '../../src/core/ssh-key.js';
import { tempRoot } from '../helpers/context.js';

// The judge is OpenSSH's own ssh-keygen -l on keys it generated.
describe('SSH public key description without a process', () => {
  const { root, cleanup } = tempRoot('metis-sshkey-');
  afterAll(() => cleanup());

  it.each([
    ['ed25519', []],
    ['ecdsa', ['-b', '256']],
    ['ecdsa', ['-b', '384']],
    ['ecdsa', ['-b', '521']],
    ['rsa', ['-b', '1024']],
    ['rsa', ['-b', '3072']],
    ['rsa', ['-b', '1031']],
  ])('%s %j is what ssh-keygen -l prints', (type, extra) => {
    const key = join(root, `${type}${extra.join('')}`);
    execFileSync('ssh-keygen', ['-q', '-t', type, ...extra, '-N', '', '-C', '', '-f', key]);
    const pub = readFileSync(`${key}.pub`, 'utf8');
    const want = execFileSync('ssh-keygen', ['-l', '-f', `${key}.pub`], { encoding: 'utf8' }).trim();
    expect(describePublicKey(pub)).toBe(want);
    expect(want).toContain(fingerprint(pub));
    // With a comment, as ssh-keygen shows it.
    execFileSync('ssh-keygen', ['-q', '-c', '-C', 'root@titan-13', '-f', key]);
    const commented = readFileSync(`${key}.pub`, 'utf8');
    expect(describePublicKey(commented)).toBe(execFileSync('ssh-keygen', ['-l', '-f', `${key}.pub`], { encoding: 'utf8' }).trim());
  });

  it.each([
    ['', /not an SSH public key \(the blob names nothing, the line \)/],
    ['ssh-ed25519 AAAA', /not an SSH public key/],
    ['ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIE2xJ1DFg3Rx1Ue6nP0N9XwbqGYm3T8xLxJc6f1Ud1e0', /the blob names ssh-ed25519, the line ssh-rsa/],
    ['ssh-dss AAAAB3NzaC1kc3M=', /key type ssh-dss not known/],
  ])('%j is refused naming the file', (line, err) => {
    expect(() => describePublicKey(line, '/etc/ssh/ssh_host_x_key.pub')).toThrow(err);
    expect(() => describePublicKey(line, '/etc/ssh/ssh_host_x_key.pub')).toThrow(/\/etc\/ssh\/ssh_host_x_key.pub/);
  });
});
