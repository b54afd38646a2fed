import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { KeyError } from './errors.js';

/** A new ECDSA P-256 key pair as PEM: PKCS#8 private key, SPKI public key (what openssl and cosign read). */
export function generateKeyPair(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

function requireP256(key: KeyObject, what: string, file?: string): KeyObject {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new KeyError(`${what}: not an ECDSA P-256 key (${key.asymmetricKeyType}${key.asymmetricKeyDetails?.namedCurve ? ` ${key.asymmetricKeyDetails.namedCurve}` : ''})`, { file });
  }
  return key;
}

/** PKCS#8 or SEC1 ("EC PRIVATE KEY", `openssl ecparam -genkey`) PEM, unencrypted. */
export function parsePrivateKey(pem: string, file?: string): KeyObject {
  if (/ENCRYPTED/.test(pem)) throw new KeyError(`${file ?? 'private key'}: encrypted keys are not read; give an unencrypted PEM key (mode 0600)`, { file });
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (cause) {
    throw new KeyError(`${file ?? 'private key'}: not a PEM private key`, { file, cause });
  }
  return requireP256(key, file ?? 'private key', file);
}

/** SPKI ("PUBLIC KEY") PEM, as `openssl ec -pubout` and `cosign generate-key-pair` write it. */
export function parsePublicKey(pem: string, where: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (cause) {
    throw new KeyError(`${where}: not a PEM public key`, { path: where, cause });
  }
  return requireP256(key, where);
}
