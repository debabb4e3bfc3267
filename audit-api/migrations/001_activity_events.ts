// The activity log: one table range-partitioned by month on occurred_at (partitions are created by the
// service, see src/store/partitions.ts), with the indexes the list filters and the stream need.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create sequence activity_events_seq;

    create table activity_events (
      tenant_id     text        not null,
      id            uuid        not null,
      occurred_at   timestamptz not null,
      received_at   timestamptz not null default now(),
      -- Insertion order (SSE ids, Last-Event-ID replay) and the writing transaction (live fan-out reads
      -- by transaction so that none committing late is skipped; see src/stream/hub.ts).
      seq           bigint      not null default nextval('activity_events_seq'),
      tx_id         xid8        not null default pg_current_xact_id(),
      action        text        not null,
      status        text        not null check (status in ('success', 'failure')),
      actor_type    text        not null,
      actor_id      text        not null,
      actor_display text,
      object_type   text,
      object_id     text,
      request_id    text,
      trace_id      text,
      span_id       text,
      ip_hash       text,
      user_agent    text,
      metadata      jsonb       not null default '{}',
      -- A partitioned table's keys must include the partition key.
      primary key (tenant_id, id, occurred_at)
    ) partition by range (occurred_at);

    -- Pages: newest first, keyset on (occurred_at, id).
    create index activity_events_page on activity_events (tenant_id, occurred_at desc, id desc);
    create index activity_events_action on activity_events (tenant_id, action text_pattern_ops, occurred_at desc, id desc);
    create index activity_events_actor on activity_events (tenant_id, actor_id, occurred_at desc, id desc);
    create index activity_events_object on activity_events (tenant_id, object_type, object_id, occurred_at desc, id desc);
    create index activity_events_request on activity_events (tenant_id, request_id) where request_id is not null;
    create index activity_events_trace on activity_events (tenant_id, trace_id) where trace_id is not null;
    -- Stream: replay after Last-Event-ID, and live reads of newly committed transactions.
    create index activity_events_seq_idx on activity_events (tenant_id, seq);
    create index activity_events_tx on activity_events (tx_id);

    create table audit_retention_runs (
      id                 bigserial   primary key,
      started_at         timestamptz not null,
      finished_at        timestamptz,
      cutoff             timestamptz not null,
      dry_run            boolean     not null,
      partitions_dropped text[]      not null default '{}',
      rows_removed       bigint      not null default 0,
      error              text
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  // Dropping the parent drops every partition with it.
  await knex.raw(`
    drop table if exists audit_retention_runs;
    drop table if exists activity_events;
    drop sequence if exists activity_events_seq;
  `);
}
