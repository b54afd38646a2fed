// SSH public keys as OpenSSH shows them, without a process: a fingerprint is the sha256 of the
// key's wire-format blob (the base64 field of a .pub line), base64 without padding (ssh-keygen -l's
// default, RFC 4253 §6.6 blob); the size is the curve's or the RSA modulus's bits.
import { createHash } from 'node:crypto';
import { MetisError } from '../lib/errors.js';

/** `SHA256:…` of a public key line (`TYPE BASE64 [comment]`). */
export function fingerprint(publicKey: string): string {
  const b64 = publicKey.trim().split(/\s+/)[1] ?? '';
  return `SHA256:${createHash('sha256').update(Buffer.from(b64, 'base64')).digest('base64').replace(/=+$/, '')}`;
}

/** The blob's SSH strings (uint32 length + bytes) in order. */
function strings(blob: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at + 4 <= blob.length; ) {
    const n = blob.readUInt32BE(at);
    if (at + 4 + n > blob.length) throw new Error('truncated key blob');
    out.push(blob.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return out;
}

function bitsOf(mpint: Buffer): number {
  let i = 0;
  while (i < mpint.length && mpint[i] === 0) i++;
  return i === mpint.length ? 0 : (mpint.length - i) * 8 - Math.clz32(mpint[i]!) + 24;
}

/**
 * One line as `ssh-keygen -l -f KEY.pub` prints it: `BITS SHA256:… COMMENT (TYPE)`, the comment
 * `no comment` when the line has none. Ed25519, ECDSA (nistp256/384/521) and RSA keys.
 */
export function describePublicKey(publicKey: string, file = 'public key'): string {
  const [type = '', b64 = '', ...comment] = publicKey.trim().split(/\s+/);
  try {
    const parts = strings(Buffer.from(b64, 'base64'));
    if (parts[0]?.toString() !== type) throw new Error(`the blob names ${parts[0]?.toString() ?? 'nothing'}, the line ${type}`);
    let bits: number;
    let name: string;
    if (type === 'ssh-ed25519') [bits, name] = [256, 'ED25519'];
    else if (/^ecdsa-sha2-nistp(256|384|521)$/.test(type)) [bits, name] = [Number(type.slice(-3)), 'ECDSA'];
    else if (type === 'ssh-rsa' && parts[2]) [bits, name] = [bitsOf(parts[2]), 'RSA'];
    else throw new Error(`key type ${type || '(none)'} not known`);
    return `${bits} ${fingerprint(publicKey)} ${comment.join(' ') || 'no comment'} (${name})`;
  } catch (e) {
    throw new MetisError('E_SSH_KEY', `${file}: not an SSH public key (${(e as Error).message})`, { file });
  }
}
