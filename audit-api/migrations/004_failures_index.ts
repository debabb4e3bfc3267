// Pages of failures (status=failure, what an investigation filters for first): no other index holds status, so
// such a page walked the tenant's page index and fetched about ten rows from the heap for each one it kept,
// spread over the whole table at 10M events: p99 1.7x of the same page at 100k (bench:audit). A partial index
// holds only the failures, so ingest pays for it on the few events that are failures, not on every event.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create index activity_events_failures on activity_events (tenant_id, occurred_at desc, id desc) where status = 'failure'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`drop index if exists activity_events_failures`);
}
