// Tamper evidence (src/seal/): each tenant's hash chain over its committed events, the signed digests
// over that chain, and the sealer's position in the commit order. None of it is removed by retention:
// a dropped month keeps its seals and digests, so the chain still verifies across the gap.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    -- One entry per sealed event, in the tenant's chain order: chain_hash = sha256(previous chain_hash || event_hash).
    -- occurred_at and seq are kept in clear so verify can tell a reorder from a modification, and find a
    -- row by its partition key; event_hash covers every stored column that matters (src/seal/hash.ts).
    create table activity_seals (
      tenant_id   text        not null,
      position    bigint      not null,
      event_id    uuid        not null,
      occurred_at timestamptz not null,
      seq         bigint      not null,
      event_hash  bytea       not null,
      chain_hash  bytea       not null,
      primary key (tenant_id, position)
    );
    -- Verify merges the seals and the rows of a time range, both in (occurred_at, id) order.
    create unique index activity_seals_event on activity_seals (tenant_id, occurred_at, event_id);
    create index activity_seals_event_id on activity_seals (tenant_id, event_id);

    -- The signed statements: "the tenant's chain up to to_position ends in chain_hash", each naming the
    -- previous digest's hash. The signature covers the canonical JSON of every other column (src/seal/digest.ts).
    create table activity_digests (
      tenant_id            text        not null,
      digest_id            uuid        not null,
      from_position        bigint      not null,
      to_position          bigint      not null,
      chain_hash           text        not null,
      previous_digest_hash text,
      created_at           timestamptz not null,
      key_id               text        not null,
      signature            text        not null,
      primary key (tenant_id, to_position)
    );
    create unique index activity_digests_id on activity_digests (digest_id);

    -- Each tenant's chain head (what the next seal links to) and what its last digest covered.
    create table activity_seal_heads (
      tenant_id          text        primary key,
      position           bigint      not null,
      chain_hash         bytea       not null,
      digested_position  bigint      not null default 0,
      last_digest_hash   text,
      last_digest_at     timestamptz
    );

    -- Where the sealer is in the commit order, across every tenant: every event whose tx_id is below tx_id
    -- here is sealed, except those of open_xids, transactions that were still in progress when the sealer
    -- passed them (sealed once they end). One row.
    create table activity_seal_horizon (
      id         boolean primary key default true check (id),
      tx_id      xid8    not null,
      open_xids  xid8[]  not null default '{}'
    );
    insert into activity_seal_horizon (tx_id) values ('0'::xid8);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    drop table if exists activity_seal_horizon;
    drop table if exists activity_seal_heads;
    drop table if exists activity_digests;
    drop table if exists activity_seals;
  `);
}
