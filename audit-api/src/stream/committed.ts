// The stream hub's read of activity_events: what transactions committed since a cursor wrote, across
// every tenant, and where a new cursor starts. The cursor is a transaction id, so a transaction that took
// a lower sequence but commits later is still read.
import type { Knex } from 'knex';
import type { StoredEvent } from '../domain/activity-event.js';
import { COLUMNS, toEvent, type EventRow } from '../store/events.js';

/** How far back the live read looks (by received_at); older events reach a stream only by replay. */
export const LIVE_WINDOW_MS = 120_000;

export class CommittedReader {
  constructor(private readonly db: Knex) {}

  /**
   * Everything written by transactions with id ≥ `fromTx`, every tenant, with the snapshot's xmin taken
   * before the read: every transaction below it had finished by then, so all of its rows are in the result.
   */
  async committedSince(fromTx: string): Promise<{ xmin: string; rows: (StoredEvent & { tx_id: string })[] }> {
    return this.db.transaction(
      async (trx) => {
        const snapshot = await trx.raw<{ rows: { xmin: string }[] }>(`select pg_snapshot_xmin(pg_current_snapshot())::text as xmin`);
        const result = await trx.raw<{ rows: (EventRow & { tx_id: string })[] }>(
          // The received_at bound keeps a long-open transaction elsewhere in the cluster (which holds xmin
          // back) from making every poll re-read everything since; our own writers finish well within it
          // (statement and idle-in-transaction timeouts of 15 s).
          `select ${COLUMNS}, tx_id::text as tx_id from activity_events
            where tx_id >= ?::xid8 and received_at > now() - ?::interval order by tx_id, seq`,
          [fromTx, `${LIVE_WINDOW_MS} milliseconds`],
        );
        return { xmin: snapshot.rows[0]!.xmin, rows: result.rows.map((row) => ({ ...toEvent(row), tx_id: row.tx_id })) };
      },
      // READ COMMITTED: the second statement sees everything committed after the xmin was read.
      { isolationLevel: 'read committed' },
    );
  }

  /** The current snapshot's xmin: where a new stream hub starts reading. */
  async currentXmin(): Promise<string> {
    const { rows } = await this.db.raw<{ rows: { xmin: string }[] }>(`select pg_snapshot_xmin(pg_current_snapshot())::text as xmin`);
    return rows[0]!.xmin;
  }
}
