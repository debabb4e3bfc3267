// Exact resume of the SSE stream against a real PostgreSQL server: transactions that commit out of order
// around a disconnect, ids from before positions, and many reconnects across two replicas under
// concurrent writers, each event delivered exactly once.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'mocha';
import pg from 'pg';
import { call, createTestDatabase, eventually, type TestDatabase, token } from '@lookout/testkit';
import { SseReader } from './fixtures/sse-reader.js';
import { startTestService, type TestService } from './fixtures/service.js';

const event = (actor: string) => ({ action: 'auth.logout', status: 'success', actor: { type: 'user', id: actor }, metadata: {} });

/** A transaction held open on its own connection: it takes its id and sequence now and commits when told. */
async function openTransaction(url: string, tenant: string, actor: string): Promise<{ id: string; seq: bigint; commit(): Promise<void> }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('begin');
  const id = randomUUID();
  const { rows } = await client.query<{ seq: string }>(
    `insert into activity_events (tenant_id, id, occurred_at, action, status, actor_type, actor_id)
     values ($1, $2, now(), 'auth.logout', 'success', 'user', $3) returning seq`,
    [tenant, id, actor],
  );
  return {
    id,
    seq: BigInt(rows[0]!.seq),
    async commit() {
      await client.query('commit');
      // Wakes every replica's hub, as the API's own writes do.
      await client.query(`select pg_notify('lookout_activity_events', '')`);
      await client.end();
    },
  };
}

describe('activity stream resume (exact under out-of-order commits, real PostgreSQL)', function () {
  let db: TestDatabase;
  let svc: TestService;
  let replica: TestService;
  let writer: string;
  let reader: string;
  const open: SseReader[] = [];

  before(async () => {
    db = await createTestDatabase();
    svc = await startTestService(db.url);
    replica = await startTestService(db.url, { LOOKOUT_AUDIT_MIGRATE: 'false' });
    writer = await token({ tenant: 'tenant-r', scope: 'activity:write' });
    reader = await token({ tenant: 'tenant-r', scope: 'activity:read' });
    // The month's partition, for the transactions written with SQL.
    assert.equal((await call(svc.url, 'POST', '/api/v1/activity', { token: writer, body: event('warm-up') })).status, 201);
  });

  after(async () => {
    for (const r of open) r.close();
    await svc?.stop();
    await replica?.stop();
    await db?.drop();
  });

  async function subscribe(base: string, actor: string, lastEventId?: string): Promise<SseReader> {
    const headers: Record<string, string> = { authorization: `Bearer ${reader}` };
    if (lastEventId) headers['last-event-id'] = lastEventId;
    const r = await SseReader.open(`${base}/api/v1/activity/stream?actor_id=${actor}`, headers);
    open.push(r);
    assert.equal(r.status, 200);
    await r.waitFor((x) => x.messages.length > 0); // the retry: preamble
    return r;
  }

  async function seqOf(id: string): Promise<bigint> {
    const { rows } = await svc.knex.raw<{ rows: { seq: string }[] }>(`select seq from activity_events where id = ?`, [id]);
    return BigInt(rows[0]!.seq);
  }

  const ids = (r: SseReader) => r.events.map((m) => JSON.parse(m.data!).id as string);

  for (const when of ['before', 'after'] as const) {
    it(`replays a transaction that took a lower sequence but committed after the disconnect, once (opened ${when} the subscriber)`, async () => {
      const actor = `ooo-${when}`;
      let t1: Awaited<ReturnType<typeof openTransaction>> | undefined;
      if (when === 'before') t1 = await openTransaction(db.url, 'tenant-r', actor);
      const first = await subscribe(svc.url, actor);
      t1 ??= await openTransaction(db.url, 'tenant-r', actor);
      // T2 takes a higher sequence and commits first; the subscriber gets it live.
      const t2 = await call(svc.url, 'POST', '/api/v1/activity', { token: writer, body: event(actor) });
      assert.ok((await seqOf(t2.body.data.id)) > t1.seq, 'T2 took the higher sequence');
      await first.waitFor((r) => r.events.length === 1);
      assert.deepEqual(ids(first), [t2.body.data.id]);
      const lastId = first.events[0]!.id!;
      first.close();
      await t1.commit();

      const resumed = await subscribe(svc.url, actor, lastId);
      await resumed.waitFor((r) => r.events.length >= 1);
      const t3 = await call(svc.url, 'POST', '/api/v1/activity', { token: writer, body: event(actor) });
      await resumed.waitFor((r) => r.events.length >= 2);
      // T1 exactly once, T2 not again, then the live feed.
      assert.deepEqual(ids(resumed), [t1.id, t3.body.data.id]);

      // From T1's own id, nothing is owed but T3.
      const again = await subscribe(replica.url, actor, resumed.events[0]!.id!);
      await again.waitFor((r) => r.events.length >= 1);
      const t4 = await call(svc.url, 'POST', '/api/v1/activity', { token: writer, body: event(actor) });
      await again.waitFor((r) => r.events.length >= 2);
      assert.deepEqual(ids(again), [t3.body.data.id, t4.body.data.id]);
    });
  }

  it('delivers a late-committing transaction live after the one that overtook it, and resumes between them exactly', async () => {
    const actor = 'ooo-live';
    const first = await subscribe(svc.url, actor);
    const t1 = await openTransaction(db.url, 'tenant-r', actor);
    const t2 = await call(svc.url, 'POST', '/api/v1/activity', { token: writer, body: event(actor) });
    await first.waitFor((r) => r.events.length === 1);
    await t1.commit();
    await first.waitFor((r) => r.events.length === 2);
    assert.deepEqual(ids(first), [t2.body.data.id, t1.id]);
    // Resuming from T2's id (taken while T1 was in flight) owes T1; from T1's id, nothing.
    const fromT2 = await subscribe(replica.url, actor, first.events[0]!.id!);
    await fromT2.waitFor((r) => r.events.length >= 1);
    const fromT1 = await subscribe(replica.url, actor, first.events[1]!.id!);
    const t3 = await call(svc.url, 'POST', '/api/v1/activity', { token: writer, body: event(actor) });
    await fromT2.waitFor((r) => r.events.length >= 2);
    await fromT1.waitFor((r) => r.events.length >= 1);
    assert.deepEqual(ids(fromT2), [t1.id, t3.body.data.id]);
    assert.deepEqual(ids(fromT1), [t3.body.data.id]);
  });

  it('accepts an id from before positions (a bare sequence) and replays what followed it', async () => {
    const actor = 'legacy';
    const one = await call(svc.url, 'POST', '/api/v1/activity', { token: writer, body: event(actor) });
    const more = await call(svc.url, 'POST', '/api/v1/activity/batch', { token: writer, body: { events: [event(actor), event(actor)] } });
    const resumed = await subscribe(svc.url, actor, String(await seqOf(one.body.data.id)));
    await resumed.waitFor((r) => r.events.length >= 2);
    assert.deepEqual(ids(resumed), more.body.data.map((e: { id: string }) => e.id));
    assert.ok(resumed.events.every((m) => /^\d+\.\d+/.test(m.id!)), 'answered with positions from then on');
  });

  it('rejects a malformed position with 400', async () => {
    for (const bad of ['1.2.x', '5.1.0.9', '1..2']) {
      const res = await call(svc.url, 'GET', '/api/v1/activity/stream', { token: reader, headers: { 'last-event-id': bad } });
      assert.equal(res.status, 400, bad);
      assert.equal(res.body.error.field, 'last-event-id');
    }
  });

  it('delivers every event exactly once across many reconnects, alternating replicas, under concurrent and out-of-order writers', async function () {
    this.timeout(120_000);
    const actor = 'churn';
    const written = new Set<string>();
    let writing = true;
    const apiWriter = async () => {
      while (writing) {
        const n = 1 + Math.floor(Math.random() * 3);
        const res = await call(svc.url, 'POST', '/api/v1/activity/batch', { token: writer, body: { events: Array.from({ length: n }, () => event(actor)) } });
        for (const e of res.body.data as { id: string }[]) written.add(e.id);
      }
    };
    // Transactions held open for a random while, so commits land out of sequence order around reconnects.
    const slowWriter = async () => {
      while (writing) {
        const tx = await openTransaction(db.url, 'tenant-r', actor);
        await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 200));
        await tx.commit();
        written.add(tx.id);
      }
    };
    const writers = [apiWriter(), apiWriter(), slowWriter(), slowWriter()];

    const received: string[] = [];
    let lastId: string | undefined;
    try {
      for (let round = 0; round < 8; round++) {
        const r = await subscribe(round % 2 === 0 ? svc.url : replica.url, actor, lastId);
        const until = Date.now() + 150 + Math.random() * 300;
        await eventually('a while of streaming', () => Date.now() >= until && r.events.length > 0, 10_000);
        r.close();
        received.push(...ids(r));
        lastId = r.events.at(-1)?.id ?? lastId;
      }
    } finally {
      writing = false;
      await Promise.all(writers);
    }
    // Everything written is owed to the last position: one more resume catches up.
    const last = await subscribe(svc.url, actor, lastId);
    await last.waitFor(() => new Set([...received, ...ids(last)]).size >= written.size, 20_000);
    received.push(...ids(last));
    const counts = new Map<string, number>();
    for (const id of received) counts.set(id, (counts.get(id) ?? 0) + 1);
    const twice = [...counts].filter(([, n]) => n > 1);
    assert.deepEqual(twice, [], 'nothing delivered twice');
    assert.deepEqual([...counts.keys()].filter((id) => !written.has(id)), [], 'nothing delivered that was not written');
    assert.equal(counts.size, written.size, 'everything written delivered');
  });
});
