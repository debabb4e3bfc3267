// The stream's reads of activity_events, each a pass in one snapshot (see position.ts): the hub's read of
// what committed since its last snapshot, across every tenant, and a resumed subscriber's replay of what
// its position does not cover. Reading by snapshot, not by sequence, is what keeps a transaction that took
// a lower sequence but commits later from being skipped.
import type { Knex } from 'knex';
import type { StoredEvent } from '../domain/activity-event.js';
import type { ActivityFilters } from '../domain/filters.js';
import { applyFilters, COLUMNS, toEvent, type EventRow } from '../store/events.js';
import { floor, fromSnapshot, type Position } from './position.js';

type Row = EventRow & { tx_id: string };

export interface TxEvent {
  event: StoredEvent;
  tx: bigint;
  seq: bigint;
}

export interface Pass {
  /** The snapshot the events were read in. */
  snapshot: Position;
  events: TxEvent[];
}

export class CommittedReader {
  constructor(private readonly db: Knex) {}

  /** Every event, of every tenant, that `snapshot` sees and the earlier snapshot `since` did not, by (tx, seq). */
  async committedSince(since: Position): Promise<Pass> {
    return this.pass(
      async (trx) =>
        (await trx
          .select(trx.raw(`${COLUMNS}, tx_id::text as tx_id`))
          .from('activity_events')
          .whereRaw('(tx_id >= ?::xid8 or tx_id = any(?::xid8[]))', [since.xmax.toString(), since.xip.map(String)])
          // Qualified: the bare name would sort by the text column selected as tx_id.
          .orderBy(['activity_events.tx_id', 'activity_events.seq'])) as Row[],
    );
  }

  /** Up to `limit` events of the tenant matching `filters` that `from` does not cover, in pass order. */
  async replay(tenantId: string, filters: ActivityFilters, from: Position, limit: number): Promise<Pass> {
    const partial = from.partial;
    const select = (trx: Knex.Transaction, n: number) => {
      const query = trx.select(trx.raw(`${COLUMNS}, tx_id::text as tx_id`)).from('activity_events').where('tenant_id', tenantId).limit(n);
      applyFilters(query, filters);
      // Qualified: the bare name would sort by the text column selected as tx_id.
      return query.orderBy(['activity_events.tx_id', 'activity_events.seq']);
    };
    return this.pass(async (trx) => {
      // The rest of the partial transaction first, as the live pass that was cut short would have sent it.
      const rest = partial ? ((await select(trx, limit).whereRaw('tx_id = ?::xid8 and seq > ?', [partial.tx.toString(), partial.seq.toString()])) as Row[]) : [];
      if (rest.length >= limit) return rest;
      // Then in (tx_id, seq) order, along the (tenant_id, tx_id, seq) index from the lowest uncovered transaction.
      const others = (await select(trx, limit - rest.length)
        .whereRaw('tx_id >= ?::xid8', [floor({ xmax: from.xmax, xip: from.xip }).toString()])
        .whereRaw('(tx_id >= ?::xid8 or tx_id = any(?::xid8[]))', [from.xmax.toString(), from.xip.map(String)])) as Row[];
      return [...rest, ...others];
    });
  }

  /** The current snapshot: where a new stream hub starts. */
  async currentSnapshot(): Promise<Position> {
    const { rows } = await this.db.raw<{ rows: { snapshot: string }[] }>(`select pg_current_snapshot()::text as snapshot`);
    return fromSnapshot(rows[0]!.snapshot);
  }

  /**
   * The position an id from before positions (a bare insertion sequence) stands for: everything up to the
   * transaction that wrote the tenant's last event at or below that sequence, that transaction up to it.
   * That is all such an id could say; a transaction with a lower id still in flight then is not covered by it.
   */
  async legacyPosition(tenantId: string, seq: string): Promise<Position> {
    const { rows } = await this.db.raw<{ rows: { tx_id: string; seq: string }[] }>(
      `select tx_id::text as tx_id, seq from activity_events where tenant_id = ? and seq <= ? order by seq desc limit 1`,
      [tenantId, seq],
    );
    const row = rows[0];
    if (!row) return { xmax: 0n, xip: [] };
    const tx = BigInt(row.tx_id);
    return { xmax: tx + 1n, xip: [], partial: { tx, seq: BigInt(row.seq) } };
  }

  private async pass(read: (trx: Knex.Transaction) => Promise<Row[]>): Promise<Pass> {
    return this.db.transaction(
      async (trx) => {
        const snapshot = await trx.raw<{ rows: { snapshot: string }[] }>(`select pg_current_snapshot()::text as snapshot`);
        const rows = await read(trx);
        return {
          snapshot: fromSnapshot(snapshot.rows[0]!.snapshot),
          events: rows.map((row) => ({ event: toEvent(row), tx: BigInt(row.tx_id), seq: BigInt(row.seq) })),
        };
      },
      // REPEATABLE READ: both statements run in the one snapshot whose text the first returns. Read-only,
      // so it never fails to serialize.
      { isolationLevel: 'repeatable read', readOnly: true },
    );
  }
}
