// Bearer JWT authentication with jose: HS256 with a shared secret for development, or a JWKS with an
// issuer, an audience and an allowlist of asymmetric algorithms for production. The tenant comes from the
// verified `tenant_id` claim only. Every refusal is counted and recorded as auth.token.rejected. During a key
// rotation an HS256 token may also verify with the previous secret (LOOKOUT_AUDIT_JWT_SECRET_PREVIOUS).
// Scopes come from the `scope` claim and from the roles an identity provider puts in its tokens, mapped to
// scopes by LOOKOUT_AUDIT_ROLE_SCOPES.
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import type { Context, Middleware } from 'koa';
import { DEFAULT_ROLE_SCOPES, roleMapping, type AuthConfig, type RoleMapping } from '../config.js';
import { ApiError } from '../domain/errors.js';
import type { TOKEN_REJECTION_REASONS } from '../domain/taxonomy.js';

export interface Principal {
  sub: string;
  tenantId: string;
  scopes: Set<string>;
}

export type RejectionReason = (typeof TOKEN_REJECTION_REASONS)[number];

export class TokenRejected extends Error {
  constructor(
    readonly reason: RejectionReason,
    message: string,
    /** The unverified tenant claim, for the record only. */
    readonly claimedTenantId?: string,
  ) {
    super(message);
  }
}

const TENANT_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export type Verifier = (token: string) => Promise<Principal>;

/**
 * `onPreviousKey` is called for each token that verified only with the previous HS256 secret (a rotation's
 * overlap), so the operator can see when nothing uses it any more. With a JWKS the key set carries both
 * keys during a rotation, and jose fetches it again for an unknown kid once the cooldown has passed.
 */
export function createVerifier(auth: AuthConfig, onPreviousKey: () => void = () => {}): Verifier {
  const scopesOf = scopeReader(auth.roles ?? roleMapping({ LOOKOUT_AUDIT_ROLE_SCOPES: DEFAULT_ROLE_SCOPES }));
  const options = {
    algorithms: auth.mode === 'hs256' ? ['HS256'] : auth.algorithms,
    ...(auth.issuer ? { issuer: auth.issuer } : {}),
    ...(auth.audience ? { audience: auth.audience } : {}),
    clockTolerance: 5,
  };
  let verifySignature: (token: string) => Promise<JWTPayload>;
  if (auth.mode === 'jwks') {
    const keys = createRemoteJWKSet(auth.jwksUrl, { timeoutDuration: 3000, cooldownDuration: auth.cooldownMs });
    verifySignature = async (token) => (await jwtVerify(token, keys, options)).payload;
  } else {
    const { secret, previousSecret } = auth;
    // jose checks the signature before the claims, so only a signature that fails under the current
    // secret is tried under the previous one: at most two HMACs, and one on the hot path.
    verifySignature = async (token) => {
      try {
        return (await jwtVerify(token, secret, options)).payload;
      } catch (err) {
        if (!previousSecret || !(err instanceof errors.JWSSignatureVerificationFailed)) throw err;
        const { payload } = await jwtVerify(token, previousSecret, options);
        onPreviousKey();
        return payload;
      }
    };
  }
  return async (token) => {
    let payload: JWTPayload;
    try {
      payload = await verifySignature(token);
    } catch (err) {
      throw new TokenRejected(reasonOf(err), messageOf(err), unverifiedTenant(token));
    }
    const tenantId = payload.tenant_id;
    if (typeof tenantId !== 'string' || !TENANT_ID.test(tenantId)) throw new TokenRejected('missing_claim', 'token has no valid tenant_id claim');
    if (typeof payload.sub !== 'string' || payload.sub.length === 0) throw new TokenRejected('missing_claim', 'token has no sub claim', tenantId);
    return { sub: payload.sub, tenantId, scopes: scopesOf(payload) };
  };
}

/**
 * The union of the `scope` claim (space-delimited, OAuth 2.0) and the scopes the token's roles map to. Roles are
 * an array of strings or one space-delimited string, the two forms identity providers use; a role the mapping
 * does not name grants nothing, and a claim of any other shape is ignored as if absent.
 */
export function scopeReader(roles: RoleMapping): (payload: JWTPayload) => Set<string> {
  const path = roles.claim.split('.');
  return (payload) => {
    const scopes = new Set(typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : []);
    if (roles.scopes.size === 0) return scopes;
    let claim: unknown = payload;
    for (const key of path) claim = claim !== null && typeof claim === 'object' && Object.hasOwn(claim, key) ? (claim as Record<string, unknown>)[key] : undefined;
    const names = typeof claim === 'string' ? claim.split(' ') : Array.isArray(claim) ? claim.filter((r): r is string => typeof r === 'string') : [];
    for (const name of names) for (const scope of roles.scopes.get(name) ?? []) scopes.add(scope);
    return scopes;
  };
}

/**
 * Sets ctx.state.principal from the bearer token, or refuses with 401 (503 when the key set cannot be
 * fetched: that is our outage, not the caller's mistake). `onRejected` records and counts the refusal.
 */
export function authenticate(verify: Verifier, onRejected: (ctx: Context, rejection: TokenRejected) => void): Middleware {
  return async (ctx, next) => {
    const header = ctx.get('authorization');
    const match = /^Bearer[ ]+([A-Za-z0-9._~+/=-]+)$/i.exec(header);
    let principal: Principal;
    try {
      if (!header) throw new TokenRejected('missing', 'missing bearer token');
      if (!match) throw new TokenRejected('malformed', 'Authorization must be "Bearer <token>"');
      principal = await verify(match[1]!);
    } catch (err) {
      if (!(err instanceof TokenRejected)) throw err;
      onRejected(ctx, err);
      ctx.set('WWW-Authenticate', `Bearer error="invalid_token"`);
      if (err.reason === 'jwks_unavailable') throw new ApiError(503, 'auth_unavailable', 'token keys cannot be fetched; retry later');
      throw new ApiError(401, 'invalid_token', err.message, 'authorization');
    }
    ctx.state.principal = principal;
    await next();
  };
}

export function requireScope(scope: string, onRefused: (ctx: Context) => void): Middleware {
  return async (ctx, next) => {
    const principal = ctx.state.principal as Principal;
    if (!principal.scopes.has(scope)) {
      onRefused(ctx);
      ctx.set('WWW-Authenticate', `Bearer error="insufficient_scope", scope="${scope}"`);
      throw new ApiError(403, 'insufficient_scope', `this call needs the "${scope}" scope`, 'scope');
    }
    await next();
  };
}

function reasonOf(err: unknown): RejectionReason {
  if (err instanceof errors.JWTExpired) return 'expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'iss') return 'wrong_issuer';
    if (err.claim === 'aud') return 'wrong_audience';
    if (err.claim === 'nbf') return 'not_yet_valid';
    return 'other';
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return 'wrong_algorithm';
  if (err instanceof errors.JWSSignatureVerificationFailed || err instanceof errors.JWKSNoMatchingKey) return 'bad_signature';
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || err instanceof TypeError) return 'jwks_unavailable';
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid || err instanceof errors.JOSENotSupported) return 'malformed';
  return 'other';
}

function messageOf(err: unknown): string {
  const reason = reasonOf(err);
  return reason === 'other' ? 'token rejected' : `token rejected: ${reason.replace(/_/g, ' ')}`;
}

/** The tenant a rejected token claims, read without trusting it (it goes into the record, never into a query). */
function unverifiedTenant(token: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { tenant_id?: unknown };
    return typeof payload.tenant_id === 'string' && TENANT_ID.test(payload.tenant_id) ? payload.tenant_id : undefined;
  } catch {
    return undefined;
  }
}
