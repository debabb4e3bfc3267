// The sealer: appends committed events to their tenant's hash chain, in commit order, and at a fixed interval
// signs a digest of each chain that grew. It runs off the write path (ingest is unchanged), one replica at
// a time (a PostgreSQL advisory lock; a replica that does not get it skips the tick), in batches.
//
// "Committed, in a defined order": a batch reads, from one snapshot, the events of transactions that had
// finished by then: those below the snapshot's xmax and not in its list of transactions in progress
// (their rows can no longer change or grow), in a window of transaction ids from the horizon of the last
// batch (sized to a few thousand events), ordered by (tx_id, seq), through a cursor.
// A transaction the horizon passes while it is still in progress is remembered (open_xids) and its events
// are sealed in the first batch after it ends. Each event is sealed exactly once; the chain's order is the
// order of sealing: batch by batch, late finishers first, then (tx_id, seq). Not xmin alone: xmin is
// cluster-wide, so one long transaction anywhere on the server (an index build in another database) would
// stall sealing for as long as it runs.
import { uuidv7 } from '@lookout/agent';
import type { Knex } from 'knex';
import type { Digest } from './digest.js';
import { digestHash, signDigest } from './digest.js';
import { chainStep, eventHash, GENESIS, HASH_COLUMNS, type HashRow } from './hash.js';
import type { SigningKey } from './keys.js';

/** One advisory lock for sealing and digests, across replicas. */
const LOCK = `hashtext('lookout_audit_seal')`;
/** Events per INSERT of seals (and per FETCH of events); a window aims at one to four of these. */
export const SEAL_BATCH = 5000;
/** Windows per tick at most, so one tick cannot hold the loop for long (the next tick continues). */
const BATCHES_PER_TICK = 20;
const MAX_SPAN = 1n << 40n;

export interface SealerMetrics {
  /** Seconds from an event being received to its seal (the oldest of each batch). */
  recordLag(seconds: number): void;
  sealed(count: number): void;
}

export class Sealer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** Transaction ids per window, adapted to the events they carry. */
  private span = 1000n;
  /** The last window stopped short of the snapshot's xmax: more is ready. */
  private behind = false;

  constructor(
    private readonly db: Knex,
    private readonly key: SigningKey,
    private readonly digestIntervalMs: number,
    private readonly metrics: SealerMetrics = { recordLag: () => {}, sealed: () => {} },
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  /** Seals every tick (at most once a second) and writes the digests that are due. */
  start(): void {
    const tickMs = Math.min(this.digestIntervalMs, 1000);
    this.timer = setInterval(() => {
      this.running ??= this.tick().finally(() => (this.running = undefined));
    }, tickMs);
    this.timer.unref();
  }

  /** Stops the ticks and waits for one in flight (before the database is closed under it). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  private async tick(): Promise<void> {
    try {
      for (let i = 0; i < BATCHES_PER_TICK; i++) {
        await this.sealBatch();
        if (!this.behind) break;
      }
      await this.writeDigests();
    } catch (err) {
      this.onError(err);
    }
  }

  /**
   * Seals the events of one window of transaction ids (and of transactions passed earlier while still open
   * that have ended since); returns how many. 0 when another replica holds the lock.
   */
  async sealBatch(): Promise<number> {
    return this.db.transaction(
      async (trx) => {
        const locked = await trx.raw<{ rows: { locked: boolean }[] }>(`select pg_try_advisory_xact_lock(${LOCK}) as locked`);
        if (!locked.rows[0]!.locked) {
          this.behind = false;
          return 0;
        }
        // One window's sort may outlast the pool's statement timeout after a long backlog; it is bounded by the window.
        await trx.raw(`set local statement_timeout = 0`);
        // The snapshot first: every transaction below its xmax and not in progress in it had finished, and this
        // transaction's later statements (READ COMMITTED) see all of their rows.
        const snapshot = await trx.raw<{ rows: { xmax: string; xip: string[] }[] }>(
          `select pg_snapshot_xmax(s)::text as xmax, array(select x::text from pg_snapshot_xip(s) as x) as xip from pg_current_snapshot() as s`,
        );
        const { xmax, xip } = snapshot.rows[0]!;
        const inProgress = new Set(xip);
        const horizon = (await trx.raw<{ rows: { tx_id: string; open_xids: string[] }[] }>(
          `select tx_id::text as tx_id, array(select x::text from unnest(open_xids) as x) as open_xids from activity_seal_horizon`,
        )).rows[0]!;
        const ended = horizon.open_xids.filter((x) => !inProgress.has(x));
        // The window [lo, hi): from the horizon (skipping ids no event carries) for `span` ids, at most to xmax.
        const first = await trx.raw<{ rows: { lo: string | null }[] }>(`select min(tx_id)::text as lo from activity_events where tx_id >= ?::xid8 and tx_id < ?::xid8`, [horizon.tx_id, xmax]);
        const lo = BigInt(first.rows[0]!.lo ?? xmax);
        const hi = lo + this.span < BigInt(xmax) ? lo + this.span : BigInt(xmax);

        const heads = new Map<string, { position: bigint; chain: Buffer }>();
        let sealed = 0;
        let oldest = Infinity;
        const seal = async (where: string, bindings: Knex.RawBinding[]) => {
          // A cursor: a window (or one large transaction) is read in chunks, never whole into memory.
          await trx.raw(`declare seal_rows no scroll cursor for select ${HASH_COLUMNS} from activity_events where ${where} order by activity_events.tx_id, activity_events.seq`, bindings);
          for (;;) {
            const { rows } = await trx.raw<{ rows: HashRow[] }>(`fetch ${SEAL_BATCH} from seal_rows`);
            if (rows.length === 0) break;
            await this.append(trx, rows, heads);
            sealed += rows.length;
            for (const row of rows) oldest = Math.min(oldest, Date.parse(row.received_at));
            if (rows.length < SEAL_BATCH) break;
          }
          await trx.raw(`close seal_rows`);
        };
        // Transactions that ended since the horizon passed them, then the window's, each in (tx_id, seq) order.
        if (ended.length > 0) await seal(`tx_id = any(?::xid8[])`, [ended]);
        if (lo < hi) await seal(`tx_id >= ?::xid8 and tx_id < ?::xid8 and not (tx_id = any(?::xid8[]))`, [lo.toString(), hi.toString(), xip]);

        if (heads.size > 0) {
          const tenants = [...heads.keys()];
          await trx.raw(
            `insert into activity_seal_heads (tenant_id, position, chain_hash)
             select * from unnest(?::text[], ?::bigint[], ?::bytea[])
             on conflict (tenant_id) do update set position = excluded.position, chain_hash = excluded.chain_hash`,
            [tenants, tenants.map((t) => heads.get(t)!.position.toString()), tenants.map((t) => heads.get(t)!.chain)] as unknown as Knex.RawBinding[],
          );
        }
        // Everything below hi is sealed now, except transactions still in progress (sealed once they end).
        const stillOpen = new Set(horizon.open_xids.filter((x) => inProgress.has(x)));
        for (const x of xip) if (BigInt(x) < hi) stillOpen.add(x);
        if (hi.toString() !== horizon.tx_id || ended.length > 0 || stillOpen.size !== horizon.open_xids.length) {
          await trx.raw(`update activity_seal_horizon set tx_id = ?::xid8, open_xids = ?::xid8[]`, [hi.toString(), [...stillOpen]]);
        }
        // Adapt the window to about SEAL_BATCH..4*SEAL_BATCH events.
        if (sealed < SEAL_BATCH) this.span = this.span * 2n > MAX_SPAN ? MAX_SPAN : this.span * 2n;
        else if (sealed > 4 * SEAL_BATCH && this.span > 1n) this.span /= 2n;
        this.behind = hi < BigInt(xmax);
        if (sealed > 0) {
          this.metrics.sealed(sealed);
          this.metrics.recordLag(Math.max(0, (Date.now() - oldest) / 1000));
        }
        return sealed;
      },
      { isolationLevel: 'read committed' },
    );
  }

  /** Appends rows to their tenants' chains (heads read once per tenant per transaction): one INSERT per chunk. */
  private async append(trx: Knex.Transaction, rows: HashRow[], heads: Map<string, { position: bigint; chain: Buffer }>): Promise<void> {
    const unknown = [...new Set(rows.map((r) => r.tenant_id))].filter((t) => !heads.has(t));
    if (unknown.length > 0) {
      const stored = await trx.raw<{ rows: { tenant_id: string; position: string; chain_hash: Buffer }[] }>(
        `select tenant_id, position::text as position, chain_hash from activity_seal_heads where tenant_id = any(?::text[])`,
        [unknown],
      );
      for (const h of stored.rows) heads.set(h.tenant_id, { position: BigInt(h.position), chain: h.chain_hash });
    }
    const columns: { tenant: string[]; position: string[]; id: string[]; at: string[]; seq: string[]; event: Buffer[]; chain: Buffer[] } = { tenant: [], position: [], id: [], at: [], seq: [], event: [], chain: [] };
    for (const row of rows) {
      const head = heads.get(row.tenant_id) ?? { position: 0n, chain: GENESIS };
      const event = eventHash(row);
      const chain = chainStep(head.chain, event);
      const position = head.position + 1n;
      heads.set(row.tenant_id, { position, chain });
      columns.tenant.push(row.tenant_id);
      columns.position.push(position.toString());
      columns.id.push(row.id);
      columns.at.push(row.occurred_at);
      columns.seq.push(row.seq);
      columns.event.push(event);
      columns.chain.push(chain);
    }
    await trx.raw(
      `insert into activity_seals (tenant_id, position, event_id, occurred_at, seq, event_hash, chain_hash)
       select * from unnest(?::text[], ?::bigint[], ?::uuid[], ?::timestamptz[], ?::bigint[], ?::bytea[], ?::bytea[])`,
      [columns.tenant, columns.position, columns.id, columns.at, columns.seq, columns.event, columns.chain] as unknown as Knex.RawBinding[],
    );
  }

  /** Signs a digest for each tenant whose chain grew and whose last digest is at least an interval old (`force`: regardless of age). */
  async writeDigests(force = false): Promise<Digest[]> {
    return this.db.transaction(async (trx) => {
      const locked = await trx.raw<{ rows: { locked: boolean }[] }>(`select pg_try_advisory_xact_lock(${LOCK}) as locked`);
      if (!locked.rows[0]!.locked) return [];
      const due = await trx.raw<{ rows: { tenant_id: string; position: string; chain_hash: Buffer; digested_position: string; last_digest_hash: string | null }[] }>(
        `select tenant_id, position::text as position, chain_hash, digested_position::text as digested_position, last_digest_hash
           from activity_seal_heads
          where position > digested_position and (? or last_digest_at is null or last_digest_at <= now() - ?::interval)`,
        [force, `${this.digestIntervalMs} milliseconds`],
      );
      const written: Digest[] = [];
      for (const head of due.rows) {
        const unsigned = {
          tenant_id: head.tenant_id,
          digest_id: uuidv7(),
          from_position: (BigInt(head.digested_position) + 1n).toString(),
          to_position: head.position,
          chain_hash: head.chain_hash.toString('hex'),
          previous_digest_hash: head.last_digest_hash,
          // Microseconds, as the column stores and returns them, so the signed text is what is read back.
          created_at: new Date().toISOString().replace('Z', '000Z'),
          key_id: this.key.keyId,
        };
        const digest: Digest = { ...unsigned, signature: signDigest(unsigned, this.key.privateKey) };
        await trx('activity_digests').insert(digest);
        await trx('activity_seal_heads')
          .where('tenant_id', head.tenant_id)
          .update({ digested_position: digest.to_position, last_digest_hash: digestHash(unsigned), last_digest_at: digest.created_at });
        written.push(digest);
      }
      return written;
    });
  }
}
