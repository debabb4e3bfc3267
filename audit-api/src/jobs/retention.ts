// Retention: events older than LOOKOUT_AUDIT_RETENTION_DAYS go. Whole expired months are detached and
// dropped (instant, no bloat); the month the cutoff falls in is trimmed with bounded DELETEs so no single
// statement holds locks or bloats WAL for long. Every run, dry or not, is a row in audit_retention_runs.
import type { Knex } from 'knex';
import { listPartitions, type Partitions } from '../store/partitions.js';

export interface RetentionOptions {
  retentionDays: number;
  batchSize: number;
  dryRun: boolean;
  now?: Date;
}

export interface RetentionResult {
  run_id: string | null;
  cutoff: string;
  dry_run: boolean;
  partitions_dropped: string[];
  rows_removed: number;
  /** Set when another run was in progress and this one did nothing. */
  skipped?: 'another_run_in_progress';
}

export async function runRetention(db: Knex, options: RetentionOptions, partitions?: Partitions): Promise<RetentionResult> {
  const cutoff = new Date((options.now ?? new Date()).getTime() - options.retentionDays * 86_400_000);
  const result: RetentionResult = { run_id: null, cutoff: cutoff.toISOString(), dry_run: options.dryRun, partitions_dropped: [], rows_removed: 0 };

  // One run at a time across replicas: the check and the insert of the run row happen under a lock.
  const runId = await db.transaction(async (trx) => {
    await trx.raw(`select pg_advisory_xact_lock(hashtext('audit_retention'))`);
    const running = await trx('audit_retention_runs').whereNull('finished_at').where('started_at', '>', trx.raw(`now() - interval '1 hour'`)).first('id');
    if (running) return null;
    const [row] = await trx('audit_retention_runs').insert({ started_at: trx.fn.now(), cutoff, dry_run: options.dryRun }).returning('id');
    return String((row as { id: string }).id);
  });
  if (runId === null) return { ...result, skipped: 'another_run_in_progress' };
  result.run_id = runId;

  try {
    for (const partition of await listPartitions(db)) {
      if (partition.to <= cutoff) {
        const rows = await countRows(db, partition.name);
        if (!options.dryRun) {
          await db.transaction(async (trx) => {
            await trx.raw('alter table activity_events detach partition ??', [partition.name]);
            await trx.raw('drop table ??', [partition.name]);
          });
          partitions?.forget(partition.name);
        }
        result.partitions_dropped.push(partition.name);
        result.rows_removed += rows;
      } else if (partition.from < cutoff) {
        result.rows_removed += options.dryRun ? await countRows(db, partition.name, cutoff) : await trim(db, partition.name, cutoff, options.batchSize);
      }
    }
    await db('audit_retention_runs').where('id', runId).update({ finished_at: db.fn.now(), partitions_dropped: result.partitions_dropped, rows_removed: result.rows_removed });
  } catch (err) {
    await db('audit_retention_runs')
      .where('id', runId)
      .update({ finished_at: db.fn.now(), partitions_dropped: result.partitions_dropped, rows_removed: result.rows_removed, error: (err as Error).message.slice(0, 1000) })
      .catch(() => {});
    throw err;
  }
  return result;
}

async function countRows(db: Knex, partition: string, before?: Date): Promise<number> {
  const query = db(partition).count<{ count: string }[]>({ count: '*' });
  if (before) query.where('occurred_at', '<', before);
  const [row] = await query;
  return Number(row?.count ?? 0);
}

async function trim(db: Knex, partition: string, cutoff: Date, batchSize: number): Promise<number> {
  let removed = 0;
  for (;;) {
    const result = await db.raw<{ rowCount: number }>(
      `delete from ?? where ctid = any(array(select ctid from ?? where occurred_at < ? limit ?))`,
      [partition, partition, cutoff, batchSize],
    );
    removed += result.rowCount;
    if (result.rowCount < batchSize) return removed;
  }
}

/** Runs retention every `intervalMs` inside the service; failures are reported and retried next time. */
export function scheduleRetention(run: () => Promise<unknown>, intervalMs: number, onError: (err: unknown) => void): () => void {
  let running = false;
  const tick = () => {
    if (running) return;
    running = true;
    run()
      .catch(onError)
      .finally(() => (running = false));
  };
  const first = setTimeout(tick, Math.min(intervalMs, 60_000));
  const timer = setInterval(tick, intervalMs);
  first.unref();
  timer.unref();
  return () => {
    clearTimeout(first);
    clearInterval(timer);
  };
}
