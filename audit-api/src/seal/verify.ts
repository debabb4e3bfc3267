// Verify a tenant's trail over a time range from the database rows alone: the endpoint and the CLI both run
// this, with the public keys they trust. Streams in one REPEATABLE READ snapshot, never a whole range in
// memory; only suspect rows are held until they are explained.
//
// Two passes:
//  1. rows and seals of [from, to), joined on (id, occurred_at) in the database and read as COPY lines, each
//     row's canonical line hashed here as sent (src/seal/hash.ts): a row whose hash is the sealed
//     one is intact; one that differs only in its ordering fields (occurred_at, seq) was reordered,
//     otherwise modified; a seal without its row is missing (or expired, when older than the cutoff of a
//     retention run); a committed row below the sealer's horizon without a seal was inserted; a row beyond
//     the horizon is pending.
//  2. the chain over the positions those seals hold, from the digest before them to the digest after them:
//     each seal links to the one before (checked by the database in one ordered pass; else "inserted": the
//     seal table was edited), and each digest's signature (checked here), link to the previous digest, and
//     chain hash hold (else "bad_signature").
import { hash } from 'node:crypto';
import type { Knex } from 'knex';
import { DIGEST_COLUMNS, digestHash, signatureValid, type Digest } from './digest.js';
import { connectionOf, copyLines, digits, field, isNull, literal, tabs } from './copy.js';
import { eventHash, GENESIS, HASH_COLUMNS, HASH_FIELDS, rowFromFields, type HashRow } from './hash.js';
import type { PublicKey } from './keys.js';

export type ProblemKind = 'modified' | 'missing' | 'inserted' | 'reordered' | 'bad_signature';

export interface Problem {
  kind: ProblemKind;
  event_id?: string;
  digest_id?: string;
}

export interface VerifyResult {
  ok: boolean;
  /** Events of the range not yet covered by a signed digest (not sealed yet, or sealed after the last digest). */
  pending: number;
  problems: Problem[];
}

export interface VerifyOptions {
  tenantId: string;
  /** Inclusive, on occurred_at; default: the beginning. */
  from?: Date;
  /** Exclusive; default: the end. */
  to?: Date;
  /** The keys whose digests are trusted. */
  publicKeys: PublicKey[];
  /** Rows per query. */
  batchSize?: number;
}

const BATCH = 5000;
const FAR_PAST = new Date('0001-01-01T00:00:00Z');
const FAR_FUTURE = new Date('9999-12-31T00:00:00Z');

interface SealRow {
  event_id: string;
  occurred_at: string;
  seq: string;
  position: string;
  event_hash: Buffer;
}

type EventRow = HashRow & { tx_id: string };

export async function verifyTrail(db: Knex, options: VerifyOptions): Promise<VerifyResult> {
  const batch = options.batchSize ?? BATCH;
  const from = options.from ?? FAR_PAST;
  const to = options.to ?? FAR_FUTURE;
  const tenant = options.tenantId;
  const keys = new Map(options.publicKeys.map((k) => [k.keyId, k.publicKey]));

  return db.transaction(
    async (trx) => {
      const problems: Problem[] = [];
      let pending = 0;
      const horizon = (await trx.raw<{ rows: { tx_id: string; open_xids: string[] }[] }>(
        `select tx_id::text as tx_id, array(select x::text from unnest(open_xids) as x) as open_xids from activity_seal_horizon`,
      )).rows[0]!;
      const open = new Set(horizon.open_xids);
      // Not sealed yet: beyond the sealer's horizon, or of a transaction it passed while still open.
      const beyondHorizon = (row: EventRow) => {
        return BigInt(row.tx_id) >= BigInt(horizon.tx_id) || open.has(row.tx_id);
      };
      const retention = await trx.raw<{ rows: { cutoff: Date | null }[] }>(`select max(cutoff) as cutoff from audit_retention_runs where not dry_run`);
      const cutoff = retention.rows[0]!.cutoff;
      const expired = (seal: SealRow) => cutoff !== null && Date.parse(seal.occurred_at) < cutoff.getTime();
      const lastDigest = await trx.raw<{ rows: { to_position: string | null }[] }>(`select max(to_position)::text as to_position from activity_digests where tenant_id = ?`, [tenant]);
      const signedUpTo = BigInt(lastDigest.rows[0]!.to_position ?? '0');

      // Compares a row with its seal: intact, moved (only occurred_at/seq differ), or modified.
      const compare = (seal: SealRow, row: EventRow) => {
        if (BigInt(seal.position) > signedUpTo) pending++;
        if (eventHash(row).equals(seal.event_hash)) return;
        const kind = eventHash(row, seal.occurred_at, seal.seq).equals(seal.event_hash) ? 'reordered' : 'modified';
        problems.push({ kind, event_id: seal.event_id });
      };

      // Pass 1: merge rows and seals of the range.
      let minPosition: bigint | undefined;
      let maxPosition: bigint | undefined;
      const looseSeals = new Map<string, SealRow>();
      const looseRows = new Map<string, EventRow>();
      // One full join in the database (a hash join, in whatever order the rows lie), read as COPY lines: a row's
      // canonical form is the first HASH_FIELDS fields of its line, hashed as sent, decoded only when it fails.
      const conn = await connectionOf(trx);
      const t = literal(conn, tenant);
      const range = `occurred_at >= ${literal(conn, from)} and occurred_at < ${literal(conn, to)}`;
      const pairs = copyLines(
        conn,
        `select r.*, s.event_id, to_char(s.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), s.seq, s.position, encode(s.event_hash, 'hex')
           from (select ${HASH_COLUMNS}, tx_id::text as tx_id, occurred_at as at_raw from activity_events where tenant_id = ${t} and ${range}) r
           full join (select * from activity_seals where tenant_id = ${t} and ${range}) s
             on s.event_id = r.id and s.occurred_at = r.at_raw`,
      );
      const TX = HASH_FIELDS;
      const SEAL = HASH_FIELDS + 2; // after tx_id and at_raw
      const sealOf = (line: Buffer, tab: number[]): SealRow => ({
        event_id: field(line, tab, SEAL),
        occurred_at: field(line, tab, SEAL + 1),
        seq: field(line, tab, SEAL + 2),
        position: field(line, tab, SEAL + 3),
        event_hash: Buffer.from(field(line, tab, SEAL + 4), 'hex'),
      });
      const signed = Number(signedUpTo);
      let low = Infinity;
      let high = -Infinity;
      for await (const lines of pairs) {
        for (const line of lines) {
          const tab = tabs(line);
          const sealed = !isNull(line, tab, SEAL);
          // The fast path, nearly every row: sealed, and hashing to its seal.
          if (sealed) {
            const position = digits(line, tab[SEAL + 2]! + 1, tab[SEAL + 3]!);
            if (position < low) low = position;
            if (position > high) high = position;
            if (!isNull(line, tab, 1)) {
              const sealedHash = line.toString('latin1', tab[SEAL + 3]! + 1, line.length);
              if (hash('sha256', line.subarray(0, tab[HASH_FIELDS - 1]), 'hex') === sealedHash) {
                if (position > signed) pending++;
                continue;
              }
            }
          }
          const seal = sealed ? sealOf(line, tab) : undefined;
          if (isNull(line, tab, 1)) {
            looseSeals.set(seal!.event_id, seal!);
            continue;
          }
          // The slow path, rare: decode the row.
          const fields = Array.from({ length: HASH_FIELDS }, (_, n) => field(line, tab, n));
          const row: EventRow = { ...rowFromFields(fields), tx_id: field(line, tab, TX) };
          if (seal) compare(seal, row);
          else if (beyondHorizon(row)) pending++;
          else looseRows.set(row.id, row);
        }
      }
      if (low !== Infinity) {
        minPosition = BigInt(low);
        maxPosition = BigInt(high);
      }
      // A row moved within the range meets its seal here.
      for (const [id, s] of looseSeals) {
        const r = looseRows.get(id);
        if (!r) continue;
        compare(s, r);
        looseSeals.delete(id);
        looseRows.delete(id);
      }
      // Seals whose row is elsewhere (moved out of the range) or gone.
      for (const ids of chunks([...looseSeals.keys()], batch)) {
        const found = await trx.raw<{ rows: EventRow[] }>(`select ${HASH_COLUMNS}, tx_id::text as tx_id from activity_events where tenant_id = ? and id = any(?::uuid[])`, [tenant, ids]);
        const byId = new Map(found.rows.map((r) => [r.id, r]));
        for (const id of ids) {
          const s = looseSeals.get(id)!;
          const r = byId.get(id);
          if (r) compare(s, r);
          else if (!expired(s)) problems.push({ kind: 'missing', event_id: id });
        }
      }
      // Rows below the horizon without a seal in the range: moved into it, or inserted.
      for (const ids of chunks([...looseRows.keys()], batch)) {
        const found = await trx.raw<{ rows: SealRow[] }>(
          `select event_id::text as event_id, to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as occurred_at,
                  seq::text as seq, position::text as position, event_hash
             from activity_seals where tenant_id = ? and event_id = any(?::uuid[])`,
          [tenant, ids],
        );
        const byId = new Map(found.rows.map((s) => [s.event_id, s]));
        for (const id of ids) {
          const s = byId.get(id);
          if (s) compare(s, looseRows.get(id)!);
          else problems.push({ kind: 'inserted', event_id: id });
        }
      }

      // Pass 2: the chain and the digests over the positions the range's seals hold.
      if (minPosition !== undefined && maxPosition !== undefined) {
        problems.push(...(await verifyChain(trx, tenant, minPosition, maxPosition, keys)));
      }
      return { ok: problems.length === 0, pending, problems };
    },
    { isolationLevel: 'repeatable read', readOnly: true },
  );
}

async function verifyChain(trx: Knex.Transaction, tenant: string, minPosition: bigint, maxPosition: bigint, keys: Map<string, PublicKey['publicKey']>): Promise<Problem[]> {
  const problems: Problem[] = [];
  const digestQuery = (where: string, bindings: Knex.RawBinding[], order: 'asc' | 'desc', limit?: number) =>
    trx.raw<{ rows: Digest[] }>(`select ${DIGEST_COLUMNS} from activity_digests where tenant_id = ? and ${where} order by activity_digests.to_position ${order}${limit ? ` limit ${limit}` : ''}`, [tenant, ...bindings]);
  // The anchor: the last digest before the range (its chain hash is where the walk starts), and the one before it for its link.
  const before = (await digestQuery('to_position < ?', [minPosition.toString()], 'desc', 2)).rows.reverse();
  const after = (await digestQuery('to_position >= ?', [maxPosition.toString()], 'asc', 1)).rows[0];
  const endPosition = after ? BigInt(after.to_position) : maxPosition;
  const within = (await digestQuery('to_position >= ? and to_position <= ?', [minPosition.toString(), endPosition.toString()], 'asc')).rows;
  const digests = [...before, ...within];

  // Each digest: signature, and its link to the digest before it (checked only when that one is authentic).
  const authentic = new Set<string>();
  let previous: Digest | undefined;
  for (const [i, d] of digests.entries()) {
    const key = keys.get(d.key_id);
    let good = key !== undefined && signatureValid(d, key);
    if (good && i === 0 && d.from_position === '1') good = d.previous_digest_hash === null;
    // The first digest's predecessor was not read (unless it is the tenant's first), and a link to a forged digest proves nothing.
    if (good && previous && authentic.has(previous.digest_id)) {
      good = d.previous_digest_hash === digestHash(previous) && d.from_position === (BigInt(previous.to_position) + 1n).toString();
    }
    if (good) authentic.add(d.digest_id);
    else problems.push({ kind: 'bad_signature', digest_id: d.digest_id });
    previous = d;
  }

  // The chain from the anchor to the end, checked in the database: each seal's link to the one before it
  // (sha256(previous chain_hash || event_hash) = chain_hash, the first from the anchor's signed hash) and the
  // positions' continuity, in one ordered pass; only breaks and digest boundaries come back. Where every link
  // holds, the stored chain hash is the recomputed one, so a boundary compares it with what the digest signed.
  const anchor = before.at(-1);
  const start = anchor ? BigInt(anchor.to_position) : 0n;
  const boundaries = new Map(within.map((d) => [d.to_position, d]));
  const { rows } = await trx.raw<{ rows: { event_id: string; position: string; chain_hash: string; link_ok: boolean; gap: boolean }[] }>(
    `select event_id::text as event_id, position::text as position, encode(chain_hash, 'hex') as chain_hash, link_ok, gap from (
       select event_id, position, chain_hash,
              pg_catalog.sha256(coalesce(lag(chain_hash) over w, decode(?, 'hex')) || event_hash) = chain_hash as link_ok,
              coalesce(lag(position) over w, ?::bigint) <> position - 1 as gap
         from activity_seals where tenant_id = ? and position > ? and position <= ?
       window w as (order by position)
     ) links where not link_ok or gap or position = any(?::bigint[]) order by links.position`,
    [anchor ? anchor.chain_hash : GENESIS.toString('hex'), start.toString(), tenant, start.toString(), endPosition.toString(), [...boundaries.keys()]],
  );
  // A broken link is reported at its seal; the digest over it then cannot match either, and is not blamed twice.
  let brokenSinceDigest = false;
  let previousPosition = start;
  for (const s of rows) {
    const at = BigInt(s.position);
    if (s.gap) {
      // Seal entries removed: name the digest that covers the first missing position.
      const hole = previousPosition + 1n;
      const covering = within.find((d) => BigInt(d.from_position) <= hole && BigInt(d.to_position) >= hole);
      problems.push({ kind: 'missing', ...(covering ? { digest_id: covering.digest_id } : {}) });
      brokenSinceDigest = true;
    } else if (!s.link_ok) {
      problems.push({ kind: 'inserted', event_id: s.event_id });
      brokenSinceDigest = true;
    }
    previousPosition = at;
    const digest = boundaries.get(s.position);
    if (digest) {
      // Every link holds but the chain is not the one signed: the seal table was rewritten consistently.
      if (authentic.has(digest.digest_id) && !brokenSinceDigest && s.chain_hash !== digest.chain_hash) problems.push({ kind: 'bad_signature', digest_id: digest.digest_id });
      brokenSinceDigest = false;
    }
  }
  // A digest whose position has no seal at all (the seal table cut short under it).
  const seen = new Set(rows.map((r) => r.position));
  for (const [position, digest] of boundaries) if (!seen.has(position)) problems.push({ kind: 'missing', digest_id: digest.digest_id });
  return problems;
}

function* chunks<T>(items: T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}
