import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { blobSignatureCheck } from '../../../src/burner/signature/check.js';
import { decodeSignature, sign, verify } from '../../../src/core/signature/ecdsa.js';
import { generateKeyPair, parsePrivateKey, parsePublicKey } from '../../../src/core/signature/keys.js';
import { writeKeyPair } from '../../../src/image/keygen.js';
import { tempDirs } from '../../burner/fixtures.js';

const dir = tempDirs('metis-sig-');
const openssl = (args: string[], input?: Buffer) => execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] });

describe('ECDSA P-256 signatures, judged by openssl', () => {
  it('openssl dgst -verify accepts what Metis signs with a key from metis image keygen; the key file is 0600', async () => {
    const d = dir();
    const { privatePath, publicPath } = await writeKeyPair(join(d, 'k'));
    expect(statSync(privatePath).mode & 0o777).toBe(0o600);
    const data = Buffer.from('a class image, or a simple-signing payload');
    writeFileSync(join(d, 'data'), data);
    writeFileSync(join(d, 'sig.der'), sign(data, parsePrivateKey(readFileSync(privatePath, 'utf8'))));
    expect(openssl(['dgst', '-sha256', '-verify', publicPath, '-signature', join(d, 'sig.der'), join(d, 'data')]).toString()).toContain('Verified OK');
    // …and refuses it over other bytes: the judge can say no.
    writeFileSync(join(d, 'data'), Buffer.from('other bytes'));
    const no = spawnSync('openssl', ['dgst', '-sha256', '-verify', publicPath, '-signature', join(d, 'sig.der'), join(d, 'data')], { encoding: 'utf8' });
    expect(no.status).not.toBe(0);
    expect(no.stdout).toContain('Verification failure');
  });

  it('keygen never overwrites a key', async () => {
    const d = dir();
    await writeKeyPair(join(d, 'k'));
    const before = readFileSync(join(d, 'k.key'));
    await expect(writeKeyPair(join(d, 'k'))).rejects.toThrow(/exists; not overwriting/);
    expect(readFileSync(join(d, 'k.key')).equals(before)).toBe(true);
  });

  it.each([
    ['SEC1 (openssl ecparam -genkey)', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out']],
    ['PKCS#8 (openssl genpkey)', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out']],
  ])('Metis verifies what openssl signs with a %s key, and signs with that key too', (_n, gen) => {
    const d = dir();
    const key = join(d, 'key.pem');
    openssl([...gen, key]);
    openssl(['ec', '-in', key, '-pubout', '-out', join(d, 'pub.pem')]);
    const data = Buffer.from('payload bytes');
    writeFileSync(join(d, 'data'), data);
    const der = openssl(['dgst', '-sha256', '-sign', key, join(d, 'data')]);
    const pub = parsePublicKey(readFileSync(join(d, 'pub.pem'), 'utf8'), 'pub.pem');
    expect(verify(data, der, pub)).toBe(true);
    expect(verify(Buffer.from('payload bytez'), der, pub)).toBe(false);
    expect(verify(data, sign(data, parsePrivateKey(readFileSync(key, 'utf8'))), pub)).toBe(true);
  });

  it('refuses keys it cannot use, naming the file', () => {
    const d = dir();
    openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', join(d, 'rsa.pem')]);
    expect(() => parsePrivateKey(readFileSync(join(d, 'rsa.pem'), 'utf8'), 'rsa.pem')).toThrow(/rsa\.pem: not an ECDSA P-256 key/);
    openssl(['ecparam', '-name', 'secp384r1', '-genkey', '-noout', '-out', join(d, 'p384.pem')]);
    expect(() => parsePrivateKey(readFileSync(join(d, 'p384.pem'), 'utf8'), 'p384.pem')).toThrow(/not an ECDSA P-256 key \(ec secp384r1\)/);
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-aes256', '-pass', 'pass:x', '-out', join(d, 'enc.pem')]);
    expect(() => parsePrivateKey(readFileSync(join(d, 'enc.pem'), 'utf8'), 'enc.pem')).toThrow(/encrypted keys are not read/);
    expect(() => parsePublicKey('-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n', 'cluster.yaml: signatures.publicKeys.0')).toThrow(/publicKeys\.0: not a PEM public key/);
  });

  it('a cosign sign-blob style signature (base64 of DER) made by openssl is checked over streamed bytes', () => {
    const d = dir();
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', join(d, 'key.pem')]);
    openssl(['ec', '-in', join(d, 'key.pem'), '-pubout', '-out', join(d, 'pub.pem')]);
    const blob = Buffer.alloc(3 << 20, 9);
    writeFileSync(join(d, 'img'), blob);
    const b64 = Buffer.from(`${openssl(['dgst', '-sha256', '-sign', join(d, 'key.pem'), join(d, 'img')]).toString('base64')}\n`);
    expect(decodeSignature(b64).equals(decodeSignature(openssl(['dgst', '-sha256', '-sign', join(d, 'key.pem'), join(d, 'img')])))).toBe(false); // ECDSA is randomised
    const pub = parsePublicKey(readFileSync(join(d, 'pub.pem'), 'utf8'), 'pub');
    const other = generateKeyPair();
    const trust = { policy: 'required' as const, keys: [parsePublicKey(other.publicPem, 'other'), pub] };
    const ok = blobSignatureCheck(trust, b64, 'img');
    for (let i = 0; i < blob.length; i += 1 << 20) ok.observe!(blob.subarray(i, i + (1 << 20)));
    expect(() => ok.check()).not.toThrow();
    const changed = blobSignatureCheck(trust, b64, 'img');
    changed.observe!(Buffer.concat([blob.subarray(0, -1), Buffer.from([8])]));
    expect(() => changed.check()).toThrow(expect.objectContaining({ code: 'E_SIG_KEY', exitCode: 31 }));
    const wrongKey = blobSignatureCheck({ policy: 'optional', keys: [parsePublicKey(other.publicPem, 'other')] }, b64, 'img');
    wrongKey.observe!(blob);
    expect(() => wrongKey.check()).toThrow(/does not verify with the 1 public key/);
    expect(() => blobSignatureCheck(trust, null, 'img')).toThrow(expect.objectContaining({ code: 'E_SIG_UNSIGNED', exitCode: 30 }));
    expect(blobSignatureCheck({ policy: 'optional', keys: [pub] }, null, 'img').note).toMatch(/not signed/);
  });
});
