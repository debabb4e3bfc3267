// A digest: the signed statement "tenant T's chain, positions from..to, ends in chain_hash; the digest
// before this one hashed to previous_digest_hash". Signed with Ed25519 over its canonical JSON.
import { createHash, sign, verify, type KeyObject } from 'node:crypto';

/** A digest as stored and as GET /api/v1/activity/digests returns it. */
export interface Digest {
  tenant_id: string;
  digest_id: string;
  from_position: string;
  to_position: string;
  /** Hex. */
  chain_hash: string;
  /** Hex sha256 of the previous digest's canonical JSON; null for a tenant's first digest. */
  previous_digest_hash: string | null;
  /** RFC 3339, UTC, microseconds (as stored). */
  created_at: string;
  key_id: string;
  /** Base64 Ed25519 signature over canonical(digest). */
  signature: string;
}

const UTC_US = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;
export const DIGEST_COLUMNS = `tenant_id, digest_id, from_position::text as from_position, to_position::text as to_position,
  chain_hash, previous_digest_hash, to_char(created_at at time zone 'UTC', ${UTC_US}) as created_at, key_id, signature`;

/** The signed bytes: every field but the signature, as JSON with sorted keys and a version. */
export function canonical(d: Omit<Digest, 'signature'>): Buffer {
  const fields = {
    chain_hash: d.chain_hash,
    created_at: d.created_at,
    digest_id: d.digest_id,
    from_position: d.from_position,
    key_id: d.key_id,
    previous_digest_hash: d.previous_digest_hash,
    tenant_id: d.tenant_id,
    to_position: d.to_position,
    v: 1,
  };
  return Buffer.from(JSON.stringify(fields));
}

/** What the next digest names as previous_digest_hash. */
export function digestHash(d: Omit<Digest, 'signature'>): string {
  return createHash('sha256').update(canonical(d)).digest('hex');
}

export function signDigest(d: Omit<Digest, 'signature'>, privateKey: KeyObject): string {
  return sign(null, canonical(d), privateKey).toString('base64');
}

export function signatureValid(d: Digest, publicKey: KeyObject): boolean {
  try {
    return verify(null, canonical(d), publicKey, Buffer.from(d.signature, 'base64'));
  } catch {
    return false;
  }
}
