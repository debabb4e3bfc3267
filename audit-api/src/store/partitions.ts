// Monthly partitions of activity_events: created ahead by the service, and on demand for a batch whose
// occurred_at falls in a month that has none yet (there is no default partition, so nothing lands in a
// catch-all that would later block creating the right one).
import type { Knex } from 'knex';

/** First instant (UTC) of the month containing `date`. */
export function monthStart(date: Date): Date {
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1));
}

export function addMonths(month: Date, n: number): Date {
  return new Date(Date.UTC(month.getUTCFullYear(), month.getUTCMonth() + n, 1));
}

export function partitionName(month: Date): string {
  return `activity_events_y${month.getUTCFullYear()}m${String(month.getUTCMonth() + 1).padStart(2, '0')}`;
}

export class Partitions {
  private readonly known = new Set<string>();

  constructor(private readonly db: Knex) {}

  /** The current month and `ahead` more. */
  async ensureAhead(now = new Date(), ahead = 3): Promise<void> {
    const first = monthStart(now);
    await this.ensure(Array.from({ length: ahead + 1 }, (_, i) => addMonths(first, i)));
  }

  /** Makes sure every month of these timestamps has its partition. Cheap when they all exist. */
  async ensureFor(dates: Iterable<Date>): Promise<void> {
    const months = new Map<string, Date>();
    for (const date of dates) {
      const month = monthStart(date);
      const name = partitionName(month);
      if (!this.known.has(name)) months.set(name, month);
    }
    if (months.size > 0) await this.ensure([...months.values()]);
  }

  /** Forgets a dropped partition (retention). */
  forget(name: string): void {
    this.known.delete(name);
  }

  private async ensure(months: Date[]): Promise<void> {
    await this.db.transaction(async (trx) => {
      // Replicas creating the same month at once would race on the catalog; serialise them.
      await trx.raw(`select pg_advisory_xact_lock(hashtext('activity_events_partitions'))`);
      for (const month of months) {
        const name = partitionName(month);
        // DDL takes no bind parameters; the bounds are ISO strings we computed, safe to inline.
        await trx.raw(`create table if not exists ?? partition of activity_events for values from ('${month.toISOString()}') to ('${addMonths(month, 1).toISOString()}')`, [name]);
      }
    });
    for (const month of months) this.known.add(partitionName(month));
  }
}

export interface PartitionInfo {
  name: string;
  from: Date;
  to: Date;
}

/** Every partition with its bounds, oldest first (bounds read from our naming, not from catalog text in the session's time zone). */
export async function listPartitions(db: Knex): Promise<PartitionInfo[]> {
  const { rows } = await db.raw<{ rows: { name: string }[] }>(`
    select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
     where i.inhparent = 'activity_events'::regclass`);
  const partitions: PartitionInfo[] = [];
  for (const { name } of rows) {
    const match = /^activity_events_y(\d{4})m(\d{2})$/.exec(name);
    if (!match) continue; // not one of ours: leave it alone
    const from = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, 1));
    partitions.push({ name, from, to: addMonths(from, 1) });
  }
  return partitions.sort((a, b) => a.from.getTime() - b.from.getTime());
}
