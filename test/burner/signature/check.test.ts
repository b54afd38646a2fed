import { describe, expect, it } from 'vitest';
import { checkOciSignatures, checkSignedBytes, type OciEvidence } from '../../../src/burner/signature/check.js';
import { sign } from '../../../src/core/signature/ecdsa.js';
import { generateKeyPair, parsePrivateKey, parsePublicKey } from '../../../src/core/signature/keys.js';
import { buildPayload } from '../../../src/core/signature/simple-signing.js';

const ours = generateKeyPair();
const theirs = generateKeyPair();
const key = parsePrivateKey(ours.privatePem);
const trust = { policy: 'required' as const, keys: [parsePublicKey(ours.publicPem, 'k')] };
const D = `sha256:${'a'.repeat(64)}`;
const LAYER = 'b'.repeat(64);
const sig = (payload: Buffer, k = key) => ({ payload: payload.toString('base64'), signature: sign(payload, k).toString('base64') });
const ev = (signatures: OciEvidence['signatures'], extra: Partial<OciEvidence> = {}): OciEvidence => ({ repository: 'reg:5000/metis/rpi4', tag: 'v1', manifestDigest: D, layer: LAYER, signatures, ...extra });

describe('checkOciSignatures: each refusal has its own code and exit code', () => {
  it.each([
    ['accepts a Metis signature naming repo:tag', ev([sig(buildPayload('reg:5000/metis/rpi4:v1', D))]), null],
    ['accepts a cosign signature naming the repository only', ev([sig(buildPayload('reg:5000/metis/rpi4', D))]), null],
    ['accepts any tag when burned by digest', ev([sig(buildPayload('reg:5000/metis/rpi4:v1', D))], { tag: undefined }), null],
    ['accepts when one of several signatures holds', ev([sig(buildPayload('reg:5000/metis/rpi4:v1', D), parsePrivateKey(theirs.privatePem)), sig(buildPayload('reg:5000/metis/rpi4:v1', D))]), null],
    ['unsigned', ev([]), ['E_SIG_UNSIGNED', 30]],
    ['wrong key', ev([sig(buildPayload('reg:5000/metis/rpi4:v1', D), parsePrivateKey(theirs.privatePem))]), ['E_SIG_KEY', 31]],
    ['payload for another manifest digest', ev([sig(buildPayload('reg:5000/metis/rpi4:v1', `sha256:${'c'.repeat(64)}`))]), ['E_SIG_DIGEST', 32]],
    ['payload that is not a simple-signing document', ev([sig(Buffer.from('{"critical":{}}'))]), ['E_SIG_DIGEST', 32]],
    ['signature for another tag', ev([sig(buildPayload('reg:5000/metis/rpi4:v0', D))]), ['E_SIG_REFERENCE', 34]],
    ['signature for another repository', ev([sig(buildPayload('reg:5000/metis/rpi5', D))]), ['E_SIG_REFERENCE', 34]],
    ['tampered signed payload', ev([{ ...sig(buildPayload('reg:5000/metis/rpi4:v1', D)), payload: buildPayload('reg:5000/metis/rpi4:v2', D).toString('base64') }]), ['E_SIG_KEY', 31]],
  ] as const)('%s', (_n, evidence, refusal) => {
    if (!refusal) {
      expect(checkOciSignatures(trust, evidence, 'oci://x').signedSha256).toBe(LAYER);
      return;
    }
    expect(() => checkOciSignatures(trust, evidence, 'oci://x')).toThrow(expect.objectContaining({ code: refusal[0], exitCode: refusal[1] }));
  });

  it('optional policy: unsigned passes with a note; a present signature must still verify', () => {
    const opt = { ...trust, policy: 'optional' as const };
    expect(checkOciSignatures(opt, ev([]), 'x')).toEqual({ note: 'image is not signed (signature policy: optional)' });
    expect(() => checkOciSignatures(opt, ev([sig(buildPayload('reg:5000/metis/rpi4', D), parsePrivateKey(theirs.privatePem))]), 'x')).toThrow(expect.objectContaining({ code: 'E_SIG_KEY' }));
  });

  it('tampered layer: the bytes written are not the signed layer (E_SIG_TAMPERED, 33), naming both digests', () => {
    const verdict = checkOciSignatures(trust, ev([sig(buildPayload('reg:5000/metis/rpi4', D))]), 'oci://x');
    expect(() => checkSignedBytes(verdict, LAYER, 'oci://x')).not.toThrow();
    expect(() => checkSignedBytes(verdict, 'f'.repeat(64), 'oci://x')).toThrow(expect.objectContaining({ code: 'E_SIG_TAMPERED', exitCode: 33, message: expect.stringContaining(`${LAYER}, the bytes read are ${'f'.repeat(64)}`) }));
  });
});
