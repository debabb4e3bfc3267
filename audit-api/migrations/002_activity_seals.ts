// Tamper evidence (src/seal/): each tenant's hash chain over its committed events, the signed digests
// over that chain, and the sealer's position in the commit order. None of it is removed by retention:
// a dropped month keeps its seals and digests, so the chain still verifies across the gap.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    -- The chain, in blocks: each block holds a run of one tenant's consecutive positions, one 64-byte entry per
    -- event in position order (src/seal/entries.ts: event_hash 32 | id 16 | occurred_at 8 | seq 8), and the
    -- chain hash after its last entry: chain_n = sha256(chain_{n-1} || event_hash_n). occurred_at and seq are
    -- kept in clear so verify can tell a reorder from a modification; event_hash covers every stored column
    -- that matters (src/seal/hash.ts). A block per tenant per sealer batch, not a row per event: a row and
    -- three index entries per event cost ingest a quarter of its throughput (docs/benchmarks.md).
    create table activity_seal_blocks (
      tenant_id        text        not null,
      from_position    bigint      not null,
      to_position      bigint      not null,
      min_occurred_at  timestamptz not null,
      max_occurred_at  timestamptz not null,
      entries          bytea       not null,
      chain_hash       bytea       not null,
      primary key (tenant_id, to_position),
      check (octet_length(entries) = 64 * (to_position - from_position + 1))
    );
    -- Hashes do not compress: store the entries out of line without trying.
    alter table activity_seal_blocks alter column entries set storage external;
    -- Verify finds the blocks holding a time range's events.
    create index activity_seal_blocks_time on activity_seal_blocks (tenant_id, max_occurred_at);

    -- One row per sealed event, for people (psql) and the rare lookups verify makes by id.
    create view activity_seal_entries as
      select b.tenant_id,
             b.from_position + i as position,
             encode(substr(b.entries, i * 64 + 33, 16), 'hex')::uuid as event_id,
             timestamptz 'epoch' + ('x' || encode(substr(b.entries, i * 64 + 49, 8), 'hex'))::bit(64)::bigint * interval '1 microsecond' as occurred_at,
             ('x' || encode(substr(b.entries, i * 64 + 57, 8), 'hex'))::bit(64)::bigint as seq,
             substr(b.entries, i * 64 + 1, 32) as event_hash
        from activity_seal_blocks b, generate_series(0, (b.to_position - b.from_position)::int) as i;

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
    drop view if exists activity_seal_entries;
    drop table if exists activity_seal_blocks;
  `);
}
