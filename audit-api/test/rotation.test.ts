// Key rotation without downtime: the JWT secret (and a JWKS's keys), the cursor key and the IP HMAC key are each
// rotated under traffic, by rolling instances of the real service on one database the way a load balancer
// would (new replica added, old one drained and stopped), and not one client request fails.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Counter } from '@opentelemetry/api';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { after, before, describe, it } from 'mocha';
import { call, createTestDatabase, eventually, token, type Reply, type TestDatabase } from '@lookout/testkit';
import type { AuthConfig } from '../src/config.js';
import { hashIp } from '../src/domain/ip.js';
import { createVerifier, TokenRejected } from '../src/http/auth.js';
import { createMetrics, type AuditMetrics } from '../src/metrics.js';
import { CursorCodec } from '../src/store/cursor.js';
import { startTestService, type TestService } from './fixtures/service.js';

const SECRET_A = 'rotation-secret-a-at-least-32-characters';
const SECRET_B = 'rotation-secret-b-at-least-32-characters';
const IP_KEY_A = 'rotation-ip-key-a-0123';
const IP_KEY_B = 'rotation-ip-key-b-0123';
const TENANT = 'tenant-rot';
/** Requests of each kind the traffic must make in a phase before the test moves on. */
const PER_PHASE = 15;
/** The rate limit is not under test: the traffic runs as fast as it can. */
const UNLIMITED = { LOOKOUT_AUDIT_RATE_LIMIT_RPS: '1000000', LOOKOUT_AUDIT_RATE_LIMIT_BURST: '1000000' };

const secret = (value: string) => new TextEncoder().encode(value);

/**
 * Where the client's next request goes: round robin over the instances in service, as a load balancer. It
 * counts the requests it has sent to each instance and not yet seen answered, to drain one before it stops.
 */
class Balancer {
  private urls: string[] = [];
  private turn = 0;
  private readonly inFlight = new Map<string, number>();

  route(...urls: string[]): void {
    this.urls = urls;
  }

  /** Sends one request through the balancer; `server` is the instance it went to. */
  async send<T>(request: (server: string) => Promise<T>): Promise<{ server: string; result: T }> {
    const server = this.urls[this.turn++ % this.urls.length]!;
    this.inFlight.set(server, (this.inFlight.get(server) ?? 0) + 1);
    try {
      return { server, result: await request(server) };
    } finally {
      this.inFlight.set(server, this.inFlight.get(server)! - 1);
    }
  }

  /** Connection draining: polls until every request sent to `url` has its answer. */
  async drained(url: string): Promise<void> {
    await eventually(`requests in flight to ${url} answered`, () => (this.inFlight.get(url) ?? 0) === 0);
  }
}

interface Outcome {
  phase: string;
  kind: 'write' | 'page';
  status: number;
  body: any;
  /** The instance that answered. */
  server: string;
  /** For a page requested with a cursor: the instance that issued that cursor. */
  cursorFrom?: string;
}

/**
 * Two clients running until stopped: one writes an event after another, one pages through the tenant's
 * events with a cursor (limit 3, back to the first page at the end). Every answer is kept with its phase.
 */
class Traffic {
  readonly outcomes: Outcome[] = [];
  private running = true;
  private readonly loops: Promise<void>[];

  constructor(
    private readonly balancer: Balancer,
    private bearer: string,
    public phase: string,
  ) {
    this.loops = [this.write(), this.page()];
  }

  useToken(bearer: string): void {
    this.bearer = bearer;
  }

  /** Polls until the phase has PER_PHASE writes and PER_PHASE pages read with a cursor. */
  async made(phase: string): Promise<void> {
    await eventually(`${PER_PHASE} writes and ${PER_PHASE} cursor pages in phase "${phase}"`, () => {
      this.assertNoFailures();
      return this.count(phase, 'write') >= PER_PHASE && this.count(phase, 'page', (o) => o.cursorFrom !== undefined) >= PER_PHASE;
    }, 20_000);
  }

  count(phase: string, kind: Outcome['kind'], where: (o: Outcome) => boolean = () => true): number {
    return this.outcomes.filter((o) => o.phase === phase && o.kind === kind && where(o)).length;
  }

  assertNoFailures(): void {
    const failed = this.outcomes.filter((o) => o.status !== (o.kind === 'write' ? 201 : 200));
    assert.deepEqual(failed.slice(0, 3).map((o) => `${o.phase} ${o.kind}: ${o.status} ${JSON.stringify(o.body)}`), [], `${failed.length} of ${this.outcomes.length} requests failed`);
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async write(): Promise<void> {
    for (let n = 0; this.running; n++) {
      const phase = this.phase;
      const { server, result: res } = await this.balancer.send((url) =>
        call(url, 'POST', '/api/v1/activity', {
          token: this.bearer,
          body: { action: 'auth.login.success', status: 'success', actor: { type: 'user', id: `writer-${n}` }, metadata: {} },
        }).catch(lost),
      );
      this.outcomes.push({ phase, kind: 'write', status: res.status, body: res.body, server });
    }
  }

  private async page(): Promise<void> {
    let cursor: { value: string; from: string } | undefined;
    while (this.running) {
      const phase = this.phase;
      const query = cursor ? `?limit=3&cursor=${encodeURIComponent(cursor.value)}` : '?limit=3';
      const { server, result: res } = await this.balancer.send((url) => call(url, 'GET', `/api/v1/activity${query}`, { token: this.bearer }).catch(lost));
      this.outcomes.push({ phase, kind: 'page', status: res.status, body: res.body, server, ...(cursor ? { cursorFrom: cursor.from } : {}) });
      const next = res.status === 200 ? (res.body.next_cursor as string | null) : null;
      cursor = next ? { value: next, from: server } : undefined;
    }
  }
}

/** A request that got no answer at all (connection refused or reset) is a failure like any other. */
function lost(err: Error): Reply {
  return { status: 0, body: `${err.message}: ${(err.cause as Error | undefined)?.message ?? ''}`, headers: new Headers() };
}

/** Instruments whose previous-key counter the test reads; the others are the API's no-ops. */
function countingMetrics(): { metrics: AuditMetrics; uses: string[] } {
  const uses: string[] = [];
  const previousKeyUses = { add: (_value: number, attributes?: { key?: string }) => void uses.push(attributes?.key ?? '') } as Counter;
  return { metrics: { ...createMetrics(), previousKeyUses }, uses };
}

async function seed(url: string, bearer: string, count: number): Promise<void> {
  for (let n = 0; n < count; n++) {
    const res = await call(url, 'POST', '/api/v1/activity', { token: bearer, body: { action: 'auth.logout', status: 'success', actor: { type: 'user', id: `seed-${n}` }, metadata: {} } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
  }
}

/** Starts the new instance, lets the balancer send to both, then drains and stops the old one. */
async function roll(traffic: Traffic, balancer: Balancer, from: TestService, to: TestService, phase: string): Promise<void> {
  traffic.phase = `${phase} (both serving)`;
  balancer.route(from.url, to.url);
  await traffic.made(traffic.phase);
  // Out of the balancer first, drained, then stopped, as a load balancer's deregistration does.
  balancer.route(to.url);
  await balancer.drained(from.url);
  await from.stop();
  traffic.phase = phase;
  await traffic.made(phase);
}

describe('key rotation without downtime', function () {
  this.timeout(120_000);
  let db: TestDatabase;
  const running: TestService[] = [];
  const start = async (env: Record<string, string>, metrics?: AuditMetrics) => {
    const svc = await startTestService(db.url, { ...UNLIMITED, ...env }, metrics ? { metrics } : {});
    running.push(svc);
    return svc;
  };

  before(async () => {
    db = await createTestDatabase();
  });

  after(async () => {
    for (const svc of running) await svc.stop();
    await db?.drop();
  });

  it('JWT secret: tokens under the old secret keep working through the roll and the overlap, then are refused with 401 bad signature', async () => {
    const tokenA = await token({ tenant: TENANT, secret: secret(SECRET_A), expiresIn: '10m' });
    const tokenB = await token({ tenant: TENANT, secret: secret(SECRET_B), expiresIn: '10m' });
    const balancer = new Balancer();
    const v1 = await start({ LOOKOUT_AUDIT_JWT_SECRET: SECRET_A, LOOKOUT_AUDIT_IP_HMAC_KEY: IP_KEY_A });
    balancer.route(v1.url);
    const traffic = new Traffic(balancer, tokenA, 'secret A');
    try {
      await traffic.made(traffic.phase);

      // Roll to current B, previous A; the issuer still signs with A.
      const overlap = countingMetrics();
      const v2 = await start({ LOOKOUT_AUDIT_JWT_SECRET: SECRET_B, LOOKOUT_AUDIT_JWT_SECRET_PREVIOUS: SECRET_A, LOOKOUT_AUDIT_IP_HMAC_KEY: IP_KEY_A }, overlap.metrics);
      assert.ok(v2.logLines.some((l) => l.message?.toString().startsWith('key rotation:') && (l.variables as string[]).includes('LOOKOUT_AUDIT_JWT_SECRET_PREVIOUS')), 'the overlap is announced at start');
      await roll(traffic, balancer, v1, v2, 'B + previous A, tokens A');
      const usesWithA = overlap.uses.length;
      assert.ok(usesWithA >= 2 * PER_PHASE, `requests with A tokens on the new instance are counted (${usesWithA})`);
      assert.ok(overlap.uses.every((key) => key === 'jwt_secret'));

      // Every replica accepts B: the issuer switches to it, and the counter stops rising.
      traffic.useToken(tokenB);
      traffic.phase = 'B + previous A, tokens B';
      await traffic.made(traffic.phase);
      const settled = overlap.uses.length;
      traffic.phase = 'B + previous A, tokens B, counter still';
      await traffic.made(traffic.phase);
      assert.equal(overlap.uses.length, settled, 'nothing uses the previous secret any more: it can be removed');

      // Roll to current B alone.
      const v3 = await start({ LOOKOUT_AUDIT_JWT_SECRET: SECRET_B, LOOKOUT_AUDIT_IP_HMAC_KEY: IP_KEY_A });
      await roll(traffic, balancer, v2, v3, 'B alone');
    } finally {
      await traffic.stop();
    }
    traffic.assertNoFailures();
    const phases = [...new Set(traffic.outcomes.map((o) => o.phase))];
    assert.equal(phases.length, 7);
    for (const phase of phases) assert.ok(traffic.count(phase, 'write') >= PER_PHASE && traffic.count(phase, 'page') >= PER_PHASE, phase);

    const v3 = running.at(-1)!;
    const refused = await call(v3.url, 'GET', '/api/v1/activity', { token: tokenA });
    assert.equal(refused.status, 401);
    assert.deepEqual(refused.body.error, { code: 'invalid_token', message: 'token rejected: bad signature', field: 'authorization' });
  });

  it('JWKS: the key set gains key B, tokens signed with B pass, key A leaves the set, and no request fails', async () => {
    const ISSUER = 'https://idp.rotation.test/';
    const AUDIENCE = 'lookout-audit';
    const keyPair = async (kid: string) => {
      const { privateKey, publicKey } = await generateKeyPair('ES256');
      return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } as JWK };
    };
    const sign = (key: { kid: string; privateKey: CryptoKey }) =>
      new SignJWT({ tenant_id: 'tenant-jwks', scope: 'activity:read activity:write' })
        .setProtectedHeader({ alg: 'ES256', kid: key.kid })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject('client')
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(key.privateKey);
    const a = await keyPair('key-a');
    const b = await keyPair('key-b');

    // The identity provider's key set, changed by the test; each fetch is counted.
    let published: JWK[] = [a.jwk];
    const fetches: string[][] = [];
    const idp: Server = createServer((_req, res) => {
      fetches.push(published.map((k) => k.kid!));
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: published }));
    });
    await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
    const jwksUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}/jwks.json`;

    const balancer = new Balancer();
    const svc = await start({
      LOOKOUT_AUDIT_JWKS_URL: jwksUrl,
      LOOKOUT_AUDIT_JWT_ISSUER: ISSUER,
      LOOKOUT_AUDIT_JWT_AUDIENCE: AUDIENCE,
      LOOKOUT_AUDIT_JWKS_COOLDOWN_S: '1',
      LOOKOUT_AUDIT_IP_HMAC_KEY: IP_KEY_A,
    });
    balancer.route(svc.url);
    const traffic = new Traffic(balancer, await sign(a), 'set {A}, tokens A');
    try {
      await traffic.made(traffic.phase);
      assert.deepEqual(fetches, [['key-a']], 'fetched once, then served from the cache');

      published = [a.jwk, b.jwk];
      const publishedAt = Date.now();
      // The procedure's wait: the cooldown (here 1 s) since B was published, so an unknown kid is fetched.
      traffic.phase = 'set {A, B}, tokens A';
      await traffic.made(traffic.phase);
      await eventually('the cooldown since B was published', () => Date.now() - publishedAt > 1000 + 100, 5000);

      traffic.useToken(await sign(b));
      traffic.phase = 'set {A, B}, tokens B';
      await traffic.made(traffic.phase);
      assert.deepEqual(fetches, [['key-a'], ['key-a', 'key-b']], 'the unknown kid made the service fetch the set again, once');

      published = [b.jwk];
      traffic.phase = 'set {B}, tokens B';
      await traffic.made(traffic.phase);
    } finally {
      await traffic.stop();
      await new Promise((resolve) => idp.close(resolve));
    }
    traffic.assertNoFailures();
    for (const phase of new Set(traffic.outcomes.map((o) => o.phase))) assert.ok(traffic.count(phase, 'write') >= PER_PHASE, phase);
  });

  it('cursor key: a paging client keeps paging across a two-step roll with replicas on either key, then the old cursors are 400 invalid_cursor', async () => {
    const bearer = await token({ tenant: 'tenant-cursor', expiresIn: '10m' });
    const env = (cursorKeys: Record<string, string>) => ({ LOOKOUT_AUDIT_IP_HMAC_KEY: IP_KEY_A, ...cursorKeys });
    const balancer = new Balancer();
    const v1 = await start(env({ LOOKOUT_AUDIT_CURSOR_KEY: 'cursor-key-a' }));
    await seed(v1.url, bearer, 2);
    // A cursor under key A, kept for the end.
    const first = await call(v1.url, 'GET', '/api/v1/activity?limit=1', { token: bearer });
    assert.equal(typeof first.body.next_cursor, 'string');
    const oldCursor = first.body.next_cursor as string;

    balancer.route(v1.url);
    const traffic = new Traffic(balancer, bearer, 'key A');
    const step1 = countingMetrics();
    const step2 = countingMetrics();
    let v2: TestService, v3: TestService;
    try {
      await traffic.made(traffic.phase);
      // Step 1: every replica learns B (as the previous key) before any replica signs with it.
      v2 = await start(env({ LOOKOUT_AUDIT_CURSOR_KEY: 'cursor-key-a', LOOKOUT_AUDIT_CURSOR_KEY_PREVIOUS: 'cursor-key-b' }), step1.metrics);
      await roll(traffic, balancer, v1, v2, 'A + previous B');
      // Step 2: B signs, A is still read: cursors cross between replicas on either key both ways.
      v3 = await start(env({ LOOKOUT_AUDIT_CURSOR_KEY: 'cursor-key-b', LOOKOUT_AUDIT_CURSOR_KEY_PREVIOUS: 'cursor-key-a' }), step2.metrics);
      await roll(traffic, balancer, v2, v3, 'B + previous A');
      // Step 3: once open cursors are past the overlap, B alone.
      const v4 = await start(env({ LOOKOUT_AUDIT_CURSOR_KEY: 'cursor-key-b' }));
      await roll(traffic, balancer, v3, v4, 'B alone');
    } finally {
      await traffic.stop();
    }
    traffic.assertNoFailures();
    const crossed = (from: string, to: string) => traffic.count('B + previous A (both serving)', 'page', (o) => o.cursorFrom === from && o.server === to);
    assert.ok(crossed(v2!.url, v3!.url) > 0, 'cursors signed with A were continued by the replica signing with B');
    assert.ok(crossed(v3!.url, v2!.url) > 0, 'cursors signed with B were continued by the replica still signing with A');
    assert.ok(step1.uses.length > 0 && step1.uses.every((key) => key === 'cursor_key'), 'the step-1 replica counted the B cursors it read');
    assert.ok(step2.uses.length > 0 && step2.uses.every((key) => key === 'cursor_key'), 'the step-2 replica counted the A cursors it read');

    const v4 = running.at(-1)!;
    const stale = await call(v4.url, 'GET', `/api/v1/activity?limit=1&cursor=${encodeURIComponent(oldCursor)}`, { token: bearer });
    assert.equal(stale.status, 400);
    assert.equal(stale.body.error.code, 'invalid_cursor');
    assert.equal(stale.body.error.field, 'cursor');
  });

  it('IP HMAC key: writes and pages go on across the roll, events carry the hash under the key of the replica that stored them', async () => {
    const bearer = await token({ tenant: 'tenant-ip', expiresIn: '10m' });
    const balancer = new Balancer();
    // The cursor key is derived from the IP key when unset: the roll pins it to that value (cursor:<old IP key>).
    const v1 = await start({ LOOKOUT_AUDIT_IP_HMAC_KEY: IP_KEY_A });
    await seed(v1.url, bearer, 2);
    const cursorUnderA = (await call(v1.url, 'GET', '/api/v1/activity?limit=1', { token: bearer })).body.next_cursor as string | null;
    balancer.route(v1.url);
    const traffic = new Traffic(balancer, bearer, 'IP key A');
    let v2: TestService;
    try {
      await traffic.made(traffic.phase);
      v2 = await start({ LOOKOUT_AUDIT_IP_HMAC_KEY: IP_KEY_B, LOOKOUT_AUDIT_CURSOR_KEY: `cursor:${IP_KEY_A}` });
      await roll(traffic, balancer, v1, v2, 'IP key B');
    } finally {
      await traffic.stop();
    }
    traffic.assertNoFailures();

    // The same client address, two hashes: one per key. Events under A cannot be matched to B's hash.
    const written = traffic.outcomes.filter((o) => o.kind === 'write');
    const { rows } = await v2!.knex.raw<{ rows: { id: string; ip_hash: string }[] }>('select id, ip_hash from activity_events where id = any(?)', [written.map((o) => o.body.data.id as string)]);
    const hashOf = new Map(rows.map((r) => [r.id, r.ip_hash]));
    assert.equal(hashOf.size, written.length, 'every acknowledged write is stored');
    const expected = { [v1.url]: hashIp(IP_KEY_A, '127.0.0.1'), [v2!.url]: hashIp(IP_KEY_B, '127.0.0.1') };
    for (const o of written) assert.equal(hashOf.get(o.body.data.id as string), expected[o.server], `${o.phase} via ${o.server}`);
    assert.ok(written.some((o) => o.server === v1.url) && written.some((o) => o.server === v2!.url));

    // Without the pin, rotating the IP key rotates the derived cursor key: open cursors become 400s.
    assert.ok(cursorUnderA, 'there is a second page');
    const unpinned = await start({ LOOKOUT_AUDIT_IP_HMAC_KEY: IP_KEY_B });
    const res = await call(unpinned.url, 'GET', `/api/v1/activity?limit=1&cursor=${encodeURIComponent(cursorUnderA)}`, { token: bearer });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'invalid_cursor');
  });
});

describe('previous keys, one request at a time', () => {
  const hs256 = (current: string, previous?: string): AuthConfig => ({ mode: 'hs256', secret: secret(current), ...(previous ? { previousSecret: secret(previous) } : {}) });
  const rejection = async (promise: Promise<unknown>) => {
    try {
      await promise;
    } catch (err) {
      if (err instanceof TokenRejected) return err.reason;
      throw err;
    }
    return 'accepted';
  };

  it('verifies a token under the current secret without touching the previous one, and one under the previous secret counted', async () => {
    let uses = 0;
    const verify = createVerifier(hs256(SECRET_B, SECRET_A), () => uses++);
    assert.equal((await verify(await token({ tenant: 't', secret: secret(SECRET_B) }))).tenantId, 't');
    assert.equal(uses, 0);
    assert.equal((await verify(await token({ tenant: 't', secret: secret(SECRET_A) }))).tenantId, 't');
    assert.equal(uses, 1);
  });

  it('refuses a token under neither secret as bad_signature, and an expired one under the previous secret as expired', async () => {
    let uses = 0;
    const verify = createVerifier(hs256(SECRET_B, SECRET_A), () => uses++);
    assert.equal(await rejection(verify(await token({ tenant: 't', secret: secret('a-third-secret-of-at-least-32-characters') }))), 'bad_signature');
    assert.equal(await rejection(verify(await token({ tenant: 't', secret: secret(SECRET_A), expiresIn: Math.floor(Date.now() / 1000) - 60 }))), 'expired');
    assert.equal(uses, 0);
    assert.equal(await rejection(createVerifier(hs256(SECRET_B))(await token({ tenant: 't', secret: secret(SECRET_A) }))), 'bad_signature', 'without a previous secret');
  });

  it('reads cursors under the previous cursor key (counted), signs new ones with the current key, and keeps them bound to their listing', () => {
    let uses = 0;
    const position = { occurredAt: '2026-11-22T10:00:00.123456Z', id: '0190aaaa-0000-7000-8000-000000000000' };
    const old = new CursorCodec(Buffer.from('key-a')).encode(position, 't1', { action: 'auth.logout' });
    const codec = new CursorCodec(Buffer.from('key-b'), Buffer.from('key-a'), () => uses++);
    assert.deepEqual(codec.decode(old, 't1', { action: 'auth.logout' }), position);
    assert.equal(uses, 1);
    const fresh = codec.encode(position, 't1', { action: 'auth.logout' });
    assert.deepEqual(new CursorCodec(Buffer.from('key-b')).decode(fresh, 't1', { action: 'auth.logout' }), position, 'signed with the current key alone');
    assert.equal(uses, 1);
    assert.throws(() => codec.decode(old, 't2', { action: 'auth.logout' }), /different listing/);
    assert.throws(() => new CursorCodec(Buffer.from('key-b')).decode(old, 't1', { action: 'auth.logout' }), /signature does not match/);
  });
});
