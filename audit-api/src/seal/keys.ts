// The Ed25519 keys of tamper evidence: the service's signing key (LOOKOUT_AUDIT_SIGNING_KEY, PEM) and the
// public keys a verifier trusts. A key is named by key_id, a hash of its public key, stored in each digest.
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  keyId: string;
  /** SPKI PEM of the public key, as served at /.well-known/lookout-audit-keys. */
  publicKeyPem: string;
}

export interface PublicKey {
  keyId: string;
  publicKey: KeyObject;
}

/** Refuses anything but an unencrypted Ed25519 private key in PEM (PKCS#8); the message says which. */
export function parseSigningKey(pem: string): SigningKey {
  const text = pem.includes('\\n') && !pem.includes('\n') ? pem.replace(/\\n/g, '\n') : pem;
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
    throw new Error(`is not a PEM private key (expected "-----BEGIN PRIVATE KEY-----"; make one with: openssl genpkey -algorithm ed25519)`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: text, format: 'pem' });
  } catch (err) {
    throw new Error(`is not a readable PEM private key (${(err as Error).message}; an encrypted key is not supported)`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new Error(`must be an Ed25519 key, got ${privateKey.asymmetricKeyType ?? 'an unknown key type'} (make one with: openssl genpkey -algorithm ed25519)`);
  }
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyId: keyIdOf(publicKey), publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** A verifier's trusted key: an Ed25519 public key in PEM (SPKI), or a private key (its public half is used). */
export function parsePublicKey(pem: string): PublicKey {
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new Error(`is not a readable PEM public key (${(err as Error).message})`);
  }
  if (publicKey.asymmetricKeyType !== 'ed25519') throw new Error(`must be an Ed25519 key, got ${publicKey.asymmetricKeyType ?? 'an unknown key type'}`);
  return { keyId: keyIdOf(publicKey), publicKey };
}

/** "ed25519:" and the first 32 hex digits of sha256 over the public key's DER (SPKI). */
export function keyIdOf(publicKey: KeyObject): string {
  return `ed25519:${createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 32)}`;
}
