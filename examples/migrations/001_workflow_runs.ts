// The runs service's one table: a workflow run per row, newest first per tenant.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table workflow_runs (
      id           uuid        primary key default gen_random_uuid(),
      tenant_id    text        not null,
      workflow_id  text        not null,
      status       text        not null default 'queued' check (status in ('queued', 'completed', 'failed')),
      requested_by text        not null,
      created_at   timestamptz not null default now(),
      finished_at  timestamptz,
      duration_ms  double precision,
      error_code   text
    );
    create index workflow_runs_recent on workflow_runs (tenant_id, created_at desc);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop table workflow_runs');
}
