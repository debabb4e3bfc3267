// Per-tenant bearer tokens for the agent's audit client. The audit API takes the tenant from the token
// only, so a multi-tenant service needs one token per tenant. Here they are HS256 tokens signed with the
// audit API's development secret; a production service would get them from its identity provider.
import { SignJWT } from 'jose';

const LIFETIME_S = 3600;
// Minted again this long before expiry, so a token never expires while a batch is in flight.
const RENEW_BEFORE_S = 300;

export function auditTokens(secret: string, subject: string): (tenant: string | undefined) => Promise<string> {
  const key = new TextEncoder().encode(secret);
  const cache = new Map<string, { token: Promise<string>; expiresAt: number }>();
  return (tenant) => {
    if (tenant === undefined) throw new Error('every audit event of the example services names its tenant');
    const now = Math.floor(Date.now() / 1000);
    const cached = cache.get(tenant);
    if (cached && cached.expiresAt - RENEW_BEFORE_S > now) return cached.token;
    const token = new SignJWT({ tenant_id: tenant, scope: 'activity:write' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(subject)
      .setIssuedAt(now)
      .setExpirationTime(now + LIFETIME_S)
      .sign(key);
    cache.set(tenant, { token, expiresAt: now + LIFETIME_S });
    token.catch(() => cache.delete(tenant)); // a failed signing is tried again at the next batch
    return token;
  };
}
