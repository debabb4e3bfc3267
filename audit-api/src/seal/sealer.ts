// The sealer: appends committed events to their tenant's hash chain, in commit order, and at a fixed interval
// signs a digest of each chain that grew. It runs off the write path (ingest's transactions are unchanged), one replica at
// a time (a PostgreSQL advisory lock; a replica that does not get it skips the tick), in batches.
//
// "Committed, in a defined order": a batch reads, from one snapshot, the events of transactions that had
// finished by then: those below the snapshot's xmax and not in its list of transactions in progress
// (their rows can no longer change or grow), in a window of transaction ids from the horizon of the last
// batch (sized to a few thousand events), ordered by (tx_id, seq), as COPY lines: each line is an event's
// canonical form (hash.ts), hashed as sent, and packed into its tenant's next block (entries.ts), so a window
// is held as 64 bytes per event, a transaction of a million events as 64 MB.
// A transaction the horizon passes while it is still in progress is remembered (open_xids) and its events
// are sealed in the first batch after it ends. Each event is sealed exactly once; the chain's order is the
// order of sealing: batch by batch, late finishers first, then (tx_id, seq). Not xmin alone: xmin is
// cluster-wide, so one long transaction anywhere on the server (an index build in another database) would
// stall sealing for as long as it runs.
import { uuidv7 } from '@lookout/agent';
import type { Knex } from 'knex';
import type { Digest } from './digest.js';
import { digestHash, signDigest } from './digest.js';
import { connectionOf, copyLines, literal } from '../store/copy.js';
import { digits, ENTRY_BYTES, entryOccurredAt, parseTimestampUs, timestampText, writeEntry } from './entries.js';
import { CANONICAL_COLUMNS, CANONICAL_SETTINGS, chainBlock, GENESIS, lineHash } from './hash.js';
import type { SigningKey } from './keys.js';

/** One advisory lock for sealing and digests, across replicas. */
const LOCK = `hashtext('lookout_audit_seal')`;
/** A window of transaction ids aims at one to four of these many events. */
export const SEAL_BATCH = 5000;
/** Entries per block at most (64 bytes each: a block row stays well under a megabyte). */
export const BLOCK_ENTRIES = 4096;
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
        await trx.raw(`set local statement_timeout = 0; ${CANONICAL_SETTINGS}`);
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

        // Transactions that ended since the horizon passed them, then the window's, each in (tx_id, seq) order,
        // read as COPY lines (the canonical form, hashed as sent) into each tenant's run of entries.
        const conn = await connectionOf(trx);
        const xids = (ids: Iterable<string>) => literal(conn, `{${[...ids].join(',')}}`);
        const runs = new Map<string, TenantRun>();
        let sealed = 0;
        let oldest = Infinity;
        const read = async (where: string) => {
          for await (const lines of copyLines(conn, `select ${CANONICAL_COLUMNS} from activity_events where ${where} order by activity_events.tx_id, activity_events.seq`)) {
            for (const line of lines) {
              const t0 = line.indexOf(9);
              const t1 = line.indexOf(9, t0 + 1);
              const t2 = line.indexOf(9, t1 + 1);
              const t3 = line.indexOf(9, t2 + 1);
              const t4 = line.indexOf(9, t3 + 1);
              const tenant = line.toString('utf8', 0, t0);
              let run = runs.get(tenant);
              if (!run) runs.set(tenant, (run = new TenantRun()));
              const occurredAt = parseTimestampUs(line, t1 + 1, t2);
              run.add(lineHash(line), line, t0 + 1, occurredAt, digits(line, t3 + 1, t4));
              oldest = Math.min(oldest, parseTimestampUs(line, t2 + 1, t3) / 1000);
              sealed++;
            }
          }
        };
        if (ended.length > 0) await read(`tx_id = any(${xids(ended)}::xid8[])`);
        if (lo < hi) await read(`tx_id >= ${literal(conn, lo.toString())}::xid8 and tx_id < ${literal(conn, hi.toString())}::xid8 and not (tx_id = any(${xids(xip)}::xid8[]))`);
        if (runs.size > 0) await this.append(trx, runs);

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

  /** Appends each tenant's run to its chain (head read once), as blocks of at most BLOCK_ENTRIES, and moves the heads. */
  private async append(trx: Knex.Transaction, runs: Map<string, TenantRun>): Promise<void> {
    const tenants = [...runs.keys()];
    const stored = await trx.raw<{ rows: { tenant_id: string; position: string; chain_hash: Buffer }[] }>(
      `select tenant_id, position::text as position, chain_hash from activity_seal_heads where tenant_id = any(?::text[])`,
      [tenants],
    );
    const heads = new Map(stored.rows.map((h) => [h.tenant_id, { position: BigInt(h.position), chain: h.chain_hash }]));
    const blocks: unknown[][] = [];
    for (const [tenant, run] of runs) {
      let head = heads.get(tenant) ?? { position: 0n, chain: GENESIS };
      for (const block of run.blocks()) {
        const chain = chainBlock(head.chain, block);
        let min = Infinity;
        let max = -Infinity;
        for (let offset = 0; offset < block.length; offset += ENTRY_BYTES) {
          const at = entryOccurredAt(block, offset);
          if (at < min) min = at;
          if (at > max) max = at;
        }
        const count = BigInt(block.length / ENTRY_BYTES);
        blocks.push([tenant, (head.position + 1n).toString(), (head.position + count).toString(), timestampText(min), timestampText(max), block, chain]);
        head = { position: head.position + count, chain };
      }
      heads.set(tenant, head);
    }
    // Buffers go to PostgreSQL as binary parameters; a few hundred blocks per statement.
    for (let i = 0; i < blocks.length; i += 200) {
      const slice = blocks.slice(i, i + 200);
      await trx.raw(
        `insert into activity_seal_blocks (tenant_id, from_position, to_position, min_occurred_at, max_occurred_at, entries, chain_hash) values ${slice.map(() => '(?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
        slice.flat() as Knex.RawBinding[],
      );
    }
    await trx.raw(
      `insert into activity_seal_heads (tenant_id, position, chain_hash)
       select * from unnest(?::text[], ?::bigint[], ?::bytea[])
       on conflict (tenant_id) do update set position = excluded.position, chain_hash = excluded.chain_hash`,
      [tenants, tenants.map((t) => heads.get(t)!.position.toString()), tenants.map((t) => heads.get(t)!.chain)] as unknown as Knex.RawBinding[],
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

/** One tenant's entries read in a batch, packed as they come, cut into blocks of at most BLOCK_ENTRIES. */
class TenantRun {
  private readonly full: Buffer[] = [];
  private current = Buffer.allocUnsafe(BLOCK_ENTRIES * ENTRY_BYTES);
  private used = 0;

  add(eventHash: string, line: Uint8Array, idStart: number, occurredAtUs: number, seq: number): void {
    if (this.used === this.current.length) {
      this.full.push(this.current);
      this.current = Buffer.allocUnsafe(BLOCK_ENTRIES * ENTRY_BYTES);
      this.used = 0;
    }
    writeEntry(this.current, this.used, eventHash, line, idStart, occurredAtUs, seq);
    this.used += ENTRY_BYTES;
  }

  blocks(): Buffer[] {
    return this.used === 0 ? this.full : [...this.full, this.current.subarray(0, this.used)];
  }
}
