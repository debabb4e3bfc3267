// Tamper evidence against the real PostgreSQL server: the service seals committed events into each tenant's
// hash chain and signs digests; the verify endpoint and the CLI (npm run verify, from the database and the
// public key alone) name exactly what was modified, deleted, inserted, reordered or forged.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import knexFactory, { type Knex } from 'knex';
import { after, before, describe, it } from 'mocha';
import { call, createTestDatabase, eventually, token, type TestDatabase } from '@lookout/testkit';
import { ConfigError, loadConfig } from '../src/config.js';
import { runRetention } from '../src/jobs/retention.js';
import { digestHash, signDigest, type Digest } from '../src/seal/digest.js';
import { parsePublicKey, parseSigningKey } from '../src/seal/keys.js';
import { Sealer } from '../src/seal/sealer.js';
import { verifyTrail, type Problem, type VerifyResult } from '../src/seal/verify.js';
import { migrateLatest, migrationConfig } from '../src/store/migrations.js';
import { startTestService, type TestService } from './fixtures/service.js';

const run = promisify(execFile);
const AUDIT_DIR = fileURLToPath(new URL('../', import.meta.url));
const DAY = 86_400_000;

function ed25519Pem(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** The CLI as an auditor runs it: npm run verify, the database URL and the public key file. */
async function cli(databaseUrl: string, keyFile: string, tenant: string, range: { from?: string; to?: string } = {}): Promise<{ code: number; result: VerifyResult }> {
  const args = ['run', 'verify', '--silent', '--', '--tenant', tenant, '--public-key', keyFile];
  if (range.from) args.push('--from', range.from);
  if (range.to) args.push('--to', range.to);
  try {
    const { stdout } = await run('npm', args, { cwd: AUDIT_DIR, env: { ...process.env, DATABASE_URL: databaseUrl } });
    return { code: 0, result: JSON.parse(stdout) as VerifyResult };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    assert.ok(e.stdout, `verify printed no result (exit ${e.code}): ${e.stderr}`);
    return { code: e.code, result: JSON.parse(e.stdout) as VerifyResult };
  }
}

const sortProblems = (problems: Problem[]) => [...problems].sort((a, b) => `${a.kind}${a.event_id ?? ''}${a.digest_id ?? ''}`.localeCompare(`${b.kind}${b.event_id ?? ''}${b.digest_id ?? ''}`));

describe('tamper evidence: configuration', () => {
  const base = { LOOKOUT_AUDIT_JWT_SECRET: 'x'.repeat(32), LOOKOUT_AUDIT_IP_HMAC_KEY: 'y'.repeat(16) };

  it('is off without a key, and on with an Ed25519 PEM key (key_id from its public key)', () => {
    assert.equal(loadConfig(base).sealing, undefined);
    const { privatePem, publicPem } = ed25519Pem();
    const config = loadConfig({ ...base, LOOKOUT_AUDIT_SIGNING_KEY: privatePem, LOOKOUT_AUDIT_DIGEST_INTERVAL_MS: '250' });
    assert.equal(config.sealing?.digestIntervalMs, 250);
    assert.equal(config.sealing?.signingKey.keyId, parsePublicKey(publicPem).keyId);
    assert.match(config.sealing!.signingKey.keyId, /^ed25519:[0-9a-f]{32}$/);
    // A PEM in one line with \n escapes, as env files often carry it.
    assert.ok(loadConfig({ ...base, LOOKOUT_AUDIT_SIGNING_KEY: privatePem.trim().replace(/\n/g, '\\n') }).sealing);
    assert.equal(loadConfig({ ...base, LOOKOUT_AUDIT_SIGNING_KEY: privatePem, LOOKOUT_AUDIT_SEALING: 'false' }).sealing, undefined);
  });

  const refused: [string, Record<string, string>, RegExp][] = [
    ['sealing on without a key', { LOOKOUT_AUDIT_SEALING: 'true' }, /LOOKOUT_AUDIT_SEALING is true but LOOKOUT_AUDIT_SIGNING_KEY is not set/],
    ['an RSA key', { LOOKOUT_AUDIT_SIGNING_KEY: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() }, /must be an Ed25519 key, got rsa/],
    ['an EC key', { LOOKOUT_AUDIT_SIGNING_KEY: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() }, /must be an Ed25519 key, got ec/],
    ['a public key', { LOOKOUT_AUDIT_SIGNING_KEY: ed25519Pem().publicPem }, /is not a PEM private key/],
    ['a truncated PEM', { LOOKOUT_AUDIT_SIGNING_KEY: '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2Vw\n-----END PRIVATE KEY-----\n' }, /is not a readable PEM private key/],
    ['a passphrase', { LOOKOUT_AUDIT_SIGNING_KEY: 'correct horse battery staple' }, /is not a PEM private key/],
    ['a bad digest interval', { LOOKOUT_AUDIT_SIGNING_KEY: ed25519Pem().privatePem, LOOKOUT_AUDIT_DIGEST_INTERVAL_MS: '0' }, /LOOKOUT_AUDIT_DIGEST_INTERVAL_MS must be an integer/],
  ];
  for (const [what, env, message] of refused) {
    it(`refuses ${what} with a ConfigError`, () => {
      assert.throws(
        () => loadConfig({ ...base, ...env }),
        (err: unknown) => err instanceof ConfigError && message.test(err.message),
      );
    });
  }
});

describe('tamper evidence (real PostgreSQL)', function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let service: TestService;
  let knex: Knex;
  let dir: string;
  let keyFile: string;
  const keys = ed25519Pem();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lookout-seal-'));
    keyFile = join(dir, 'audit-public.pem');
    db = await createTestDatabase();
    service = await startTestService(db.url, { LOOKOUT_AUDIT_SIGNING_KEY: keys.privatePem, LOOKOUT_AUDIT_DIGEST_INTERVAL_MS: '200' });
    knex = knexFactory({ client: 'pg', connection: db.url, pool: { min: 0, max: 4 } });
    // The auditor takes the public key from the well-known endpoint (no token needed).
    const published = await call(service.url, 'GET', '/.well-known/lookout-audit-keys');
    assert.equal(published.status, 200);
    assert.equal(published.body.keys[0].key_id, parseSigningKey(keys.privatePem).keyId);
    writeFileSync(keyFile, published.body.keys[0].public_key_pem);
  });

  after(async () => {
    await service?.stop();
    await knex?.destroy();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Writes `count` events for a fresh tenant (occurred_at `daysAgo` back) and waits until a digest covers them all. */
  async function sealedTenant(count = 6, daysAgo: number[] = []): Promise<{ tenant: string; ids: string[]; reader: string }> {
    const tenant = `tenant-${randomUUID().slice(0, 8)}`;
    const writer = await token({ tenant, scope: 'activity:write' });
    const reader = await token({ tenant, scope: 'activity:read' });
    const events = Array.from({ length: count }, (_, i) => ({
      id: randomUUID(),
      action: 'auth.logout',
      status: 'success',
      actor: { type: 'user', id: `u-${i}` },
      occurred_at: new Date(Date.now() - (daysAgo[i] ?? 0) * DAY - (count - i) * 1000).toISOString(),
      metadata: {},
    }));
    const res = await call(service.url, 'POST', '/api/v1/activity/batch', { token: writer, body: { events } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    await eventually(`a digest covering ${tenant}'s ${count} events`, async () => {
      const digests = await call(service.url, 'GET', '/api/v1/activity/digests', { token: reader });
      return digests.body.data?.at(-1)?.to_position === String(count);
    });
    return { tenant, ids: events.map((e) => e.id), reader };
  }

  /** The endpoint and the CLI both report exactly `problems` (the CLI exiting 1), or both verify ok (exit 0). */
  async function expectReport(tenant: string, reader: string, problems: Problem[], range: { from?: string; to?: string } = {}): Promise<void> {
    const query = new URLSearchParams(range).toString();
    const res = await call(service.url, 'GET', `/api/v1/activity/verify${query ? `?${query}` : ''}`, { token: reader });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(Object.keys(res.body).sort(), ['ok', 'pending', 'problems']);
    assert.deepEqual(sortProblems(res.body.problems), sortProblems(problems), 'endpoint');
    assert.equal(res.body.ok, problems.length === 0);
    assert.equal(res.body.pending, 0);
    const { code, result } = await cli(db.url, keyFile, tenant, range);
    assert.deepEqual(sortProblems(result.problems), sortProblems(problems), 'cli');
    assert.equal(result.ok, problems.length === 0);
    assert.equal(code, problems.length === 0 ? 0 : 1);
  }

  it('verifies an untouched trail (endpoint and CLI) and lists its signed digests, to the caller\'s tenant only', async () => {
    const { tenant, reader } = await sealedTenant();
    await expectReport(tenant, reader, []);
    const digests = await call(service.url, 'GET', '/api/v1/activity/digests', { token: reader });
    const first = digests.body.data[0] as Digest;
    assert.equal(first.tenant_id, tenant);
    assert.equal(first.from_position, '1');
    assert.equal(first.previous_digest_hash, null);
    assert.match(first.chain_hash, /^[0-9a-f]{64}$/);
    const page = await call(service.url, 'GET', '/api/v1/activity/digests?limit=1&after_position=0', { token: reader });
    assert.deepEqual(page.body.data, [first]);
    assert.equal(page.body.next_after_position, digests.body.data.length > 1 ? first.to_position : null);
    // Another tenant sees none of them.
    const other = await call(service.url, 'GET', '/api/v1/activity/digests', { token: await token({ tenant: 'someone-else', scope: 'activity:read' }) });
    assert.deepEqual(other.body.data, []);
    // A write token cannot verify.
    const writer = await call(service.url, 'GET', '/api/v1/activity/verify', { token: await token({ tenant, scope: 'activity:write' }) });
    assert.equal(writer.status, 403);
    const bad = await call(service.url, 'GET', '/api/v1/activity/verify?from=nope', { token: reader });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.field, 'from');
  });

  it('names a row whose metadata was modified with SQL', async () => {
    const { tenant, ids, reader } = await sealedTenant();
    await knex.raw(`update activity_events set metadata = '{"reason":"rewritten"}' where tenant_id = ? and id = ?`, [tenant, ids[2]!]);
    await expectReport(tenant, reader, [{ kind: 'modified', event_id: ids[2]! }]);
  });

  it('names a deleted row as missing', async () => {
    const { tenant, ids, reader } = await sealedTenant();
    await knex.raw(`delete from activity_events where tenant_id = ? and id = ?`, [tenant, ids[4]!]);
    await expectReport(tenant, reader, [{ kind: 'missing', event_id: ids[4]! }]);
  });

  it('names a forged row slipped into the sealed past as inserted', async () => {
    const { tenant, ids, reader } = await sealedTenant();
    const forged = randomUUID();
    // The forger copies a sealed row's transaction id and time, so it looks committed long ago.
    await knex.raw(
      `insert into activity_events (tenant_id, id, occurred_at, received_at, tx_id, action, status, actor_type, actor_id, metadata)
       select tenant_id, ?, occurred_at + interval '1 millisecond', received_at, tx_id, 'auth.logout', 'success', 'user', 'u-forged', '{}'
         from activity_events where tenant_id = ? and id = ?`,
      [forged, tenant, ids[1]!],
    );
    await expectReport(tenant, reader, [{ kind: 'inserted', event_id: forged }]);
  });

  it('names two rows whose order was swapped (their insertion sequence, or their time) as reordered', async () => {
    const { tenant, ids, reader } = await sealedTenant();
    const swap = async (column: 'seq' | 'occurred_at', a: string, b: string) =>
      knex.raw(
        `update activity_events e set ${column} = o.${column}
           from activity_events o where e.tenant_id = ? and o.tenant_id = ? and ((e.id = ? and o.id = ?) or (e.id = ? and o.id = ?))`,
        [tenant, tenant, a, b, b, a],
      );
    await swap('seq', ids[0]!, ids[1]!);
    await expectReport(tenant, reader, [
      { kind: 'reordered', event_id: ids[0]! },
      { kind: 'reordered', event_id: ids[1]! },
    ]);
    await swap('seq', ids[0]!, ids[1]!); // back
    await swap('occurred_at', ids[3]!, ids[5]!);
    await expectReport(tenant, reader, [
      { kind: 'reordered', event_id: ids[3]! },
      { kind: 'reordered', event_id: ids[5]! },
    ]);
  });

  it('names a replaced digest (signed with another key) as bad_signature', async () => {
    const { tenant, reader } = await sealedTenant();
    const [digest] = (await call(service.url, 'GET', '/api/v1/activity/digests', { token: reader })).body.data as Digest[];
    // The forger writes the chain hash of a history of their choosing and signs it with their own key, under our key_id.
    const forged = { ...digest!, chain_hash: 'ab'.repeat(32) };
    const attacker = parseSigningKey(ed25519Pem().privatePem);
    await knex('activity_digests').where({ digest_id: digest!.digest_id }).update({ chain_hash: forged.chain_hash, signature: signDigest(forged, attacker.privateKey) });
    await expectReport(tenant, reader, [{ kind: 'bad_signature', digest_id: digest!.digest_id }]);
  });

  it('names the digest over a seal entry rewritten to cover a modified row (the block no longer chains)', async () => {
    const { tenant, ids, reader } = await sealedTenant();
    await knex.raw(`update activity_events set actor_id = 'someone-else' where tenant_id = ? and id = ?`, [tenant, ids[3]!]);
    // Recompute that event's hash from the modified row, as an auditor would (COPY line, sha256), and write it
    // into its block's entry: the row now matches its seal, the block's chain does not.
    const { CANONICAL_COLUMNS, CANONICAL_SETTINGS, lineHash } = await import('../src/seal/hash.js');
    const { connectionOf, copyLines, literal } = await import('../src/store/copy.js');
    const hash = await knex.transaction(async (trx) => {
      await trx.raw(CANONICAL_SETTINGS);
      const conn = await connectionOf(trx);
      for await (const lines of copyLines(conn, `select ${CANONICAL_COLUMNS} from activity_events where id = ${literal(conn, ids[3]!)}`)) return Buffer.from(lineHash(lines[0]!), "latin1");
      throw new Error('no row');
    });
    const entry = (await knex.raw(`select position from activity_seal_entries where tenant_id = ? and event_id = ?`, [tenant, ids[3]!])).rows[0];
    await knex.raw(
      `update activity_seal_blocks set entries = overlay(entries placing ?::bytea from ((?::bigint - from_position) * 64 + 1)::int for 32)
        where tenant_id = ? and ?::bigint between from_position and to_position`,
      [hash, entry.position, tenant, entry.position],
    );
    const digests = (await call(service.url, 'GET', '/api/v1/activity/digests', { token: reader })).body.data as Digest[];
    const over = digests.find((d) => BigInt(d.from_position) <= BigInt(entry.position) && BigInt(d.to_position) >= BigInt(entry.position))!;
    await expectReport(tenant, reader, [{ kind: 'modified', digest_id: over.digest_id }]);
  });

  it('verifies an untouched trail after retention drops a month: its seals and digests stay, its events count as expired', async () => {
    // Three events 80 days back (a month retention will drop), three now.
    const { tenant, reader } = await sealedTenant(6, [80, 80, 80, 0, 0, 0]);
    const result = await runRetention(knex, { retentionDays: 40, batchSize: 1000, dryRun: false });
    assert.ok(result.partitions_dropped.length > 0, 'a month was dropped');
    const left = await knex('activity_events').where({ tenant_id: tenant }).count<{ count: string }[]>({ count: '*' });
    assert.equal(left[0]!.count, '3');
    assert.equal((await knex('activity_seal_entries').where({ tenant_id: tenant }).count<{ count: string }[]>({ count: '*' }))[0]!.count, '6');
    await expectReport(tenant, reader, []);
    await expectReport(tenant, reader, [], { to: new Date(Date.now() - 60 * DAY).toISOString() });
  });

  it('verifies an untouched trail after pg_dump -Fc and pg_restore into a new database, from the CLI alone', async () => {
    const { tenant, ids } = await sealedTenant();
    const restored = await createTestDatabase();
    try {
      const dump = join(dir, 'audit.dump');
      await run('pg_dump', ['-Fc', '-f', dump, db.url]);
      await run('pg_restore', ['--no-owner', '-d', restored.url, dump]);
      const ok = await cli(restored.url, keyFile, tenant);
      assert.deepEqual(ok, { code: 0, result: { ok: true, pending: 0, problems: [] } });
      // And the copy still detects tampering.
      const copy = knexFactory({ client: 'pg', connection: restored.url, pool: { min: 0, max: 1 } });
      try {
        await copy.raw(`delete from activity_events where tenant_id = ? and id = ?`, [tenant, ids[0]!]);
      } finally {
        await copy.destroy();
      }
      const tampered = await cli(restored.url, keyFile, tenant);
      assert.deepEqual(tampered, { code: 1, result: { ok: false, pending: 0, problems: [{ kind: 'missing', event_id: ids[0]! }] } });
    } finally {
      await restored.drop();
    }
  });
});

describe('sealing concurrent transactions (real PostgreSQL)', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let knex: Knex;

  before(async () => {
    db = await createTestDatabase();
    knex = knexFactory({ client: 'pg', connection: db.url, pool: { min: 0, max: 6 } });
    await migrateLatest(knex);
    await knex.raw(`create table activity_events_y2026 partition of activity_events for values from ('2020-01-01') to ('2100-01-01')`);
  });

  after(async () => {
    await knex?.destroy();
    await db?.drop();
  });

  it('migrates 002 down and up alone, leaving the events table', async () => {
    const tables = async () => (await knex.raw(`select tablename from pg_tables where schemaname = 'public' and tablename like 'activity_%' and tablename not like 'activity_events_%' order by 1`)).rows.map((r: { tablename: string }) => r.tablename);
    assert.deepEqual(await tables(), ['activity_digests', 'activity_events', 'activity_seal_blocks', 'activity_seal_heads', 'activity_seal_horizon']);
    await knex.migrate.down({ ...migrationConfig, name: '002_activity_seals' });
    assert.deepEqual(await tables(), ['activity_events']);
    assert.deepEqual(await migrateLatest(knex), ['002_activity_seals']);
  });

  it('seals two transactions committing out of order exactly once each, in the order they became final', async () => {
    const key = parseSigningKey(ed25519Pem().privatePem);
    const sealer = new Sealer(knex, key, 1000);
    const insert = (trx: Knex.Transaction, id: string) =>
      trx.raw(`insert into activity_events (tenant_id, id, occurred_at, action, status, actor_type, actor_id) values ('t', ?, now(), 'auth.logout', 'success', 'user', 'u')`, [id]);
    const [a, b] = [randomUUID(), randomUUID()];
    // A's transaction takes the lower transaction id, B's the lower sequence; B commits first, A last.
    const first = await knex.transaction();
    const second = await knex.transaction();
    await first.raw('select pg_current_xact_id()');
    await insert(second, b);
    await second.commit();
    assert.equal(await sealer.sealBatch(), 1, 'B, committed, is sealed; A, open below it, is remembered');
    const open = await knex.raw(`select cardinality(open_xids) as n from activity_seal_horizon`);
    assert.ok(open.rows[0].n >= 1);
    await insert(first, a);
    const pendingWhileOpen = await verifyTrail(knex, { tenantId: 't', publicKeys: [] });
    assert.deepEqual(pendingWhileOpen.problems, []);
    await first.commit();
    const pendingAfterCommit = await verifyTrail(knex, { tenantId: 't', publicKeys: [{ keyId: key.keyId, publicKey: key.publicKey }] });
    assert.deepEqual(pendingAfterCommit, { ok: true, pending: 2, problems: [] }, 'A committed but not sealed yet, B sealed but not digested: both pending');
    assert.equal(await sealer.sealBatch(), 1, 'A, now committed');
    assert.equal(await sealer.sealBatch(), 0, 'nothing twice');
    const seals = await knex('activity_seal_entries').orderBy('position').select('event_id', 'position');
    assert.deepEqual(seals, [
      { event_id: b, position: '1' },
      { event_id: a, position: '2' },
    ]);
    // Two sealers at once (two replicas): the advisory lock lets one through, the other seals nothing.
    const more = await knex.transaction(async (trx) => {
      for (let i = 0; i < 50; i++) await insert(trx, randomUUID());
    });
    assert.equal(more, undefined);
    const counts = await Promise.all([sealer.sealBatch(), new Sealer(knex, key, 1000).sealBatch()]);
    assert.equal(counts[0] + counts[1], 50);
    assert.equal((await knex('activity_seal_entries').count<{ count: string }[]>({ count: '*' }))[0]!.count, '52');
    const [digest] = await sealer.writeDigests(true);
    assert.equal(digest!.to_position, '52');
    assert.equal(digestHash(digest!).length, 64);
    assert.deepEqual(await verifyTrail(knex, { tenantId: 't', publicKeys: [{ keyId: key.keyId, publicKey: key.publicKey }] }), { ok: true, pending: 0, problems: [] });
  });

  it('walks more blocks than one query reads, in position order (10 sorts before 9 as text)', async () => {
    const key = parseSigningKey(ed25519Pem().privatePem);
    const sealer = new Sealer(knex, key, 1000);
    const ids: string[] = [];
    // One block per batch: 40 batches of one event (more than the 32 blocks verify reads per query).
    for (let i = 0; i < 40; i++) {
      const id = randomUUID();
      ids.push(id);
      await knex.raw(`insert into activity_events (tenant_id, id, occurred_at, action, status, actor_type, actor_id) values ('blocks', ?, now(), 'auth.logout', 'success', 'user', 'u')`, [id]);
      assert.equal(await sealer.sealBatch(), 1);
      if (i % 7 === 0) await sealer.writeDigests(true);
    }
    await sealer.writeDigests(true);
    assert.equal((await knex('activity_seal_blocks').where({ tenant_id: 'blocks' }).count<{ count: string }[]>({ count: '*' }))[0]!.count, '40');
    const publicKeys = [{ keyId: key.keyId, publicKey: key.publicKey }];
    assert.deepEqual(await verifyTrail(knex, { tenantId: 'blocks', publicKeys }), { ok: true, pending: 0, problems: [] });
    await knex.raw(`update activity_events set actor_id = 'x' where tenant_id = 'blocks' and id = ?`, [ids[33]!]);
    assert.deepEqual(await verifyTrail(knex, { tenantId: 'blocks', publicKeys }), { ok: false, pending: 0, problems: [{ kind: 'modified', event_id: ids[33]! }] });
  });

  it('seals a transaction larger than a batch, tenants interleaved, and verifies it batch by batch', async () => {
    const key = parseSigningKey(ed25519Pem().privatePem);
    const sealer = new Sealer(knex, key, 1000);
    await knex.raw(`insert into activity_events (tenant_id, id, occurred_at, action, status, actor_type, actor_id, metadata)
      select 'big-' || (i % 3), gen_random_uuid(), now() - (i || ' milliseconds')::interval, 'auth.logout', 'success', 'user', 'u-' || i, jsonb_build_object('n', i)
        from generate_series(1, 12000) as i`);
    // Values COPY escapes (tab, backslash, newline, backspace…), nulls, and non-ASCII: the sealer's canonical line must be COPY's, byte for byte.
    await knex.raw(`insert into activity_events (tenant_id, id, occurred_at, action, status, actor_type, actor_id, actor_display, user_agent, metadata)
      values ('big-1', gen_random_uuid(), now(), 'auth.logout', 'success', 'user', E'a\\tb\\\\c\\nd\\be\\x01f', E'caf\\u00e9 \\u2603 \\\\N', null, '{"k": "v\\\\t\\"q\\"", "é": [1.50, null]}')`);
    let sealed = 0;
    for (let n = await sealer.sealBatch(); n > 0; n = await sealer.sealBatch()) sealed += n;
    assert.equal(sealed, 12001);
    await sealer.writeDigests(true);
    const publicKeys = [{ keyId: key.keyId, publicKey: key.publicKey }];
    for (const tenant of ['big-0', 'big-1', 'big-2']) {
      assert.deepEqual(await verifyTrail(knex, { tenantId: tenant, publicKeys, batchSize: 700 }), { ok: true, pending: 0, problems: [] });
    }
    await knex.raw(`update activity_events set metadata = '{"n": -1}' where tenant_id = 'big-1' and metadata->>'n' = '9001'`);
    const [changed] = (await knex.raw(`select id from activity_events where tenant_id = 'big-1' and metadata->>'n' = '-1'`)).rows;
    assert.deepEqual(await verifyTrail(knex, { tenantId: 'big-1', publicKeys, batchSize: 700 }), { ok: false, pending: 0, problems: [{ kind: 'modified', event_id: changed.id }] });
  });
});
