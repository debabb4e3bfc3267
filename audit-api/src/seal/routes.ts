// Tamper evidence over HTTP: GET /api/v1/activity/digests (the caller's tenant's signed digests),
// GET /api/v1/activity/verify?from=&to= (recomputes the caller's trail), and the public key at
// /.well-known/lookout-audit-keys (no token: a verifier needs it before trusting anything here).
import Router from '@koa/router';
import type { Knex } from 'knex';
import type { Middleware } from 'koa';
import type { SealingConfig } from '../config.js';
import { ApiError } from '../domain/errors.js';
import { parseFilters, parseLimit, single } from '../domain/filters.js';
import type { Principal } from '../http/auth.js';
import type { AuditMetrics } from '../metrics.js';
import { DIGEST_COLUMNS, type Digest } from './digest.js';
import { verifyTrail } from './verify.js';

export interface SealRouteDeps {
  db: Knex;
  sealing: SealingConfig | undefined;
  metrics: AuditMetrics;
}

export const KEYS_PATH = '/.well-known/lookout-audit-keys';

function sealingOn(deps: SealRouteDeps): SealingConfig {
  if (!deps.sealing) throw new ApiError(404, 'not_found', 'tamper evidence is off on this server (LOOKOUT_AUDIT_SEALING, LOOKOUT_AUDIT_SIGNING_KEY)');
  return deps.sealing;
}

function only(query: Record<string, unknown>, allowed: string[]): void {
  for (const key of Object.keys(query)) {
    if (!allowed.includes(key)) throw new ApiError(400, 'unknown_filter', `unknown query parameter "${key}"; this endpoint takes ${allowed.join(', ')}`, key);
  }
}

export function sealRoutes(deps: SealRouteDeps, requireRead: Middleware): Router {
  const router = new Router({ prefix: '/v1/activity' });

  // Oldest first; page with after_position (the last to_position you have).
  router.get('/digests', requireRead, async (ctx) => {
    sealingOn(deps);
    const { tenantId } = ctx.state.principal as Principal;
    only(ctx.query, ['after_position', 'limit']);
    const limit = parseLimit(ctx.query);
    const after = single(ctx.query, 'after_position') ?? '0';
    if (!/^\d{1,18}$/.test(after)) throw new ApiError(400, 'invalid_filter', '"after_position" must be a non-negative integer', 'after_position');
    const { rows } = await deps.db.raw<{ rows: Digest[] }>(`select ${DIGEST_COLUMNS} from activity_digests where tenant_id = ? and to_position > ? order by activity_digests.to_position limit ?`, [tenantId, after, limit + 1]);
    const data = rows.slice(0, limit);
    ctx.body = { data, next_after_position: rows.length > limit ? data.at(-1)!.to_position : null };
  });

  router.get('/verify', requireRead, async (ctx) => {
    const sealing = sealingOn(deps);
    const { tenantId } = ctx.state.principal as Principal;
    only(ctx.query, ['from', 'to']);
    const { from, to } = parseFilters(ctx.query);
    const { signingKey } = sealing;
    const result = await verifyTrail(deps.db, { tenantId, ...(from ? { from } : {}), ...(to ? { to } : {}), publicKeys: [{ keyId: signingKey.keyId, publicKey: signingKey.publicKey }] });
    for (const problem of result.problems) deps.metrics.verifyProblems.add(1, { kind: problem.kind });
    ctx.set('Cache-Control', 'no-store');
    ctx.body = result;
  });

  return router;
}

/** The public key that verifies the digests, for anyone: a JSON key list with each key_id and its SPKI PEM. */
export function publicKeyEndpoint(sealing: SealingConfig | undefined): Middleware {
  return async (ctx, next) => {
    if (ctx.path !== KEYS_PATH) return next();
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') throw new ApiError(405, 'method_not_allowed', 'method not allowed on this path');
    if (!sealing) throw new ApiError(404, 'not_found', 'tamper evidence is off on this server');
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = { keys: [{ key_id: sealing.signingKey.keyId, algorithm: 'Ed25519', public_key_pem: sealing.signingKey.publicKeyPem }] };
  };
}
