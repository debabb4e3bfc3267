// Verify a tenant's trail over a time range from the database alone: the endpoint and the CLI both run this,
// with the public keys they trust, in one REPEATABLE READ snapshot.
//
//  1. The chain: the blocks from the digest before the range's first sealed event to the digest after its
//     last, in position order. Positions must run on (a hole is "missing", named by the digest over it); each
//     block's entries are re-chained, sha256(previous ‖ event_hash), to the block's stored chain hash (else
//     "modified", named by the digest over the block: the seal table was edited) and, at each digest, to the
//     hash it signed; each digest's signature and its link to the one before must hold (else "bad_signature").
//     The entries of the range's events go into an index by (id, occurred_at): about 100 bytes per event
//     (a month of a million events: ~100 MB), nothing per row.
//  2. The rows: the range's rows as COPY lines (the canonical form, hash.ts), each hashed as sent and looked
//     up. The sealed hash: intact. Another: "reordered" when it hashes to the seal with the sealed
//     occurred_at and seq put back, else "modified". No seal: pending while the sealer has not passed it,
//     else sought by id among all seals (it moved into the range) or "inserted".
//  3. Seals of the range that met no row: the row is sought by id (it moved out of the range), or the event is
//     "missing" (or expired, when older than the cutoff of a retention run).
// Only suspects are decoded; an untouched trail costs one pass over its blocks and one COPY of its rows.
import type { Knex } from 'knex';
import { connectionOf, copyLines, literal } from '../store/copy.js';
import { DIGEST_COLUMNS, digestHash, signatureValid, type Digest } from './digest.js';
import { ENTRY_BYTES, entryOccurredAt, entrySeq, HASH_AT, ID_AT, parseTimestampUs, timestampText, uuidText, writeUuid } from './entries.js';
import { CANONICAL_COLUMNS, CANONICAL_SETTINGS, chainBlock, GENESIS, hashEquals, lineHash } from './hash.js';
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
  /** Ids per lookup of moved or missing events. */
  batchSize?: number;
}

const BATCH = 5000;
const BLOCKS_PER_QUERY = 32;
const FAR_PAST = new Date('0001-01-01T00:00:00Z');
const FAR_FUTURE = new Date('9999-12-31T00:00:00Z');

/** A row of the range that met no seal: its canonical line and id. */
interface LooseRow {
  canonical: Buffer;
  id: string;
}

/** What a seal says of an event: its hash, and the ordering fields it was sealed with. */
interface Sealed {
  hash: Buffer;
  occurredAtUs: number;
  seq: number;
  position: number;
}

export async function verifyTrail(db: Knex, options: VerifyOptions): Promise<VerifyResult> {
  const batch = options.batchSize ?? BATCH;
  const from = options.from ?? FAR_PAST;
  const to = options.to ?? FAR_FUTURE;
  const tenant = options.tenantId;
  const keys = new Map(options.publicKeys.map((k) => [k.keyId, k.publicKey]));

  return db.transaction(
    async (trx) => {
      await trx.raw(CANONICAL_SETTINGS);
      const problems: Problem[] = [];
      let pending = 0;
      const horizon = (await trx.raw<{ rows: { tx_id: string; open_xids: string[] }[] }>(
        `select tx_id::text as tx_id, array(select x::text from unnest(open_xids) as x) as open_xids from activity_seal_horizon`,
      )).rows[0]!;
      const open = new Set(horizon.open_xids);
      const horizonTx = BigInt(horizon.tx_id);
      // Not sealed yet: beyond the sealer's horizon, or of a transaction it passed while still open.
      const beyondHorizon = (txId: string) => BigInt(txId) >= horizonTx || open.has(txId);
      const retention = await trx.raw<{ rows: { cutoff: Date | null }[] }>(`select max(cutoff) as cutoff from audit_retention_runs where not dry_run`);
      const cutoffUs = retention.rows[0]!.cutoff === null ? -Infinity : retention.rows[0]!.cutoff.getTime() * 1000;
      const lastDigest = await trx.raw<{ rows: { to_position: string | null }[] }>(`select max(to_position)::text as to_position from activity_digests where tenant_id = ?`, [tenant]);
      const signedUpTo = Number(lastDigest.rows[0]!.to_position ?? '0');
      const judge = (sealed: Sealed, canonical: Buffer, eventId: string) => {
        if (sealed.position > signedUpTo) pending++;
        const kind = compare(sealed, canonical);
        if (kind) problems.push({ kind, event_id: eventId });
      };

      // 1. The chain, and the index of the range's seals.
      const index = await walkChain(trx, tenant, from, to, keys, problems);

      // 2. The range's rows.
      const conn = await connectionOf(trx);
      const t = literal(conn, tenant);
      const looseRows: LooseRow[] = [];
      const id = Buffer.alloc(16);
      const range = `tenant_id = ${t} and occurred_at >= ${literal(conn, from)} and occurred_at < ${literal(conn, to)}`;
      // The canonical columns alone, so a line is hashed as it comes (no slice per row); the few rows that meet
      // no seal have their transaction looked up afterwards.
      for await (const lines of copyLines(conn, `select ${CANONICAL_COLUMNS} from activity_events where ${range}`)) {
        for (const canonical of lines) {
          const t0 = canonical.indexOf(9);
          const t1 = canonical.indexOf(9, t0 + 1);
          writeUuid(canonical, t0 + 1, id, 0);
          // The fast path, nearly every row: its id's first seal, and the hash (which covers occurred_at) is the sealed one.
          const first = index.first(id);
          if (first !== -1) {
            const digest = lineHash(canonical);
            const intact = index.hashIs(first, digest);
            // Otherwise the seal of this id at this occurred_at, or (moved within the range) its unmatched one.
            const entry = intact ? first : index.pick(id, parseTimestampUs(canonical, t1 + 1, canonical.indexOf(9, t1 + 1)));
            if (entry !== -1) {
              index.matched[entry] = 1;
              if (index.positions[entry]! > signedUpTo) pending++;
              if (!intact && !index.hashIs(entry, digest)) problems.push({ kind: compare(index.sealed(entry), canonical)!, event_id: uuidText(id) });
              continue;
            }
          }
          looseRows.push({ canonical: Buffer.from(canonical), id: uuidText(id) });
        }
      }

      // Rows with no seal of their id in the range: not sealed yet (beyond the sealer's horizon: pending), or sealable.
      const sealable = async (loose: LooseRow[]) => {
        const txs = new Map<string, string[]>();
        for (const ids of chunks(loose.map((r) => r.id), batch)) {
          const found = await trx.raw<{ rows: { id: string; tx_id: string }[] }>(`select id::text as id, tx_id::text as tx_id from activity_events where ${range} and id = any(?::uuid[])`, [ids]);
          for (const r of found.rows) txs.set(r.id, [...(txs.get(r.id) ?? []), r.tx_id]);
        }
        return loose.filter((row) => {
          const tx = txs.get(row.id)?.shift();
          if (tx !== undefined && beyondHorizon(tx)) {
            pending++;
            return false;
          }
          return true;
        });
      };

      // A row moved within the range meets its seal here.
      const looseSeals = new Map<string, number[]>();
      for (let entry = 0; entry < index.count; entry++) {
        if (index.matched[entry]) continue;
        const eventId = uuidText(index.idOf(entry));
        looseSeals.set(eventId, [...(looseSeals.get(eventId) ?? []), entry]);
      }
      const unexplained: LooseRow[] = [];
      for (const row of await sealable(looseRows)) {
        const entry = looseSeals.get(row.id)?.shift();
        if (entry === undefined) {
          unexplained.push(row);
          continue;
        }
        judge(index.sealed(entry), row.canonical, row.id);
        if (looseSeals.get(row.id)!.length === 0) looseSeals.delete(row.id);
      }

      // 3. Seals whose row is elsewhere (moved out of the range) or gone.
      for (const ids of chunks([...looseSeals.keys()], batch)) {
        const found = new Map<string, Buffer[]>();
        for await (const lines of copyLines(conn, `select ${CANONICAL_COLUMNS} from activity_events where tenant_id = ${t} and id = any(${literal(conn, `{${ids.join(',')}}`)}::uuid[])`)) {
          for (const line of lines) {
            const t0 = line.indexOf(9);
            const rowId = line.toString('latin1', t0 + 1, line.indexOf(9, t0 + 1));
            found.set(rowId, [...(found.get(rowId) ?? []), Buffer.from(line)]);
          }
        }
        for (const eventId of ids) {
          for (const entry of looseSeals.get(eventId)!) {
            const sealed = index.sealed(entry);
            const candidates = found.get(eventId) ?? [];
            // The same id may be stored at two times (the key is id and occurred_at): the one that hashes to the seal, else the first.
            const row = candidates.find((c) => hashEquals(lineHash(c), sealed.hash, 0)) ?? candidates[0];
            if (row) judge(sealed, row, eventId);
            else if (sealed.occurredAtUs >= cutoffUs) problems.push({ kind: 'missing', event_id: eventId });
          }
        }
      }

      // Rows below the horizon with no seal in the range: moved into it (their seal is elsewhere), or inserted.
      for (const rowsOf of chunks(unexplained, batch)) {
        const found = await trx.raw<{ rows: { event_id: string; position: string; at_us: string; seq: string; event_hash: Buffer }[] }>(
          `select event_id::text as event_id, position::text as position, (extract(epoch from occurred_at) * 1000000)::bigint::text as at_us, seq::text as seq, event_hash
             from activity_seal_entries where tenant_id = ? and event_id = any(?::uuid[])`,
          [tenant, rowsOf.map((r) => r.id)],
        );
        const byId = new Map(found.rows.map((s) => [s.event_id, s]));
        for (const row of rowsOf) {
          const s = byId.get(row.id);
          if (s) judge({ hash: s.event_hash, occurredAtUs: Number(s.at_us), seq: Number(s.seq), position: Number(s.position) }, row.canonical, row.id);
          else problems.push({ kind: 'inserted', event_id: row.id });
        }
      }
      return { ok: problems.length === 0, pending, problems };
    },
    { isolationLevel: 'repeatable read', readOnly: true },
  );
}

/** Intact (undefined), only its ordering fields changed ("reordered"), or "modified". */
function compare(sealed: Sealed, canonical: Buffer): ProblemKind | undefined {
  if (hashEquals(lineHash(canonical), sealed.hash, 0)) return undefined;
  const t0 = canonical.indexOf(9);
  const t1 = canonical.indexOf(9, t0 + 1);
  const t2 = canonical.indexOf(9, t1 + 1);
  const t3 = canonical.indexOf(9, t2 + 1);
  const t4 = canonical.indexOf(9, t3 + 1);
  // The row with the sealed occurred_at (field 2) and seq (field 4) put back.
  const putBack = Buffer.concat([
    canonical.subarray(0, t1 + 1),
    Buffer.from(timestampText(sealed.occurredAtUs)),
    canonical.subarray(t2, t3 + 1),
    Buffer.from(String(sealed.seq)),
    canonical.subarray(t4),
  ]);
  return hashEquals(lineHash(putBack), sealed.hash, 0) ? 'reordered' : 'modified';
}

/** Checks the digests and the chain over the blocks that hold the range's events; returns their entries of the range. */
async function walkChain(trx: Knex.Transaction, tenant: string, from: Date, to: Date, keys: Map<string, PublicKey['publicKey']>, problems: Problem[]): Promise<SealIndex> {
  const span = await trx.raw<{ rows: { lo: string | null; hi: string | null }[] }>(
    `select min(from_position)::text as lo, max(to_position)::text as hi from activity_seal_blocks where tenant_id = ? and max_occurred_at >= ? and min_occurred_at < ?`,
    [tenant, from, to],
  );
  if (span.rows[0]!.lo === null) return new SealIndex(0);
  const lo = span.rows[0]!.lo;
  const hi = span.rows[0]!.hi!;
  const digestQuery = (where: string, bindings: Knex.RawBinding[], order: 'asc' | 'desc', limit?: number) =>
    trx.raw<{ rows: Digest[] }>(`select ${DIGEST_COLUMNS} from activity_digests where tenant_id = ? and ${where} order by activity_digests.to_position ${order}${limit ? ` limit ${limit}` : ''}`, [tenant, ...bindings]);
  // The anchor: the last digest before the range's blocks (its chain hash is where the walk starts), and the one before it for its link.
  const before = (await digestQuery('to_position < ?', [lo], 'desc', 2)).rows.reverse();
  const after = (await digestQuery('to_position >= ?', [hi], 'asc', 1)).rows[0];
  const end = after ? after.to_position : hi;
  const within = (await digestQuery('to_position >= ? and to_position <= ?', [lo, end], 'asc')).rows;

  // Each digest: signature, and its link to the digest before it (checked only when that one is authentic).
  const authentic = new Set<string>();
  let previous: Digest | undefined;
  for (const [i, d] of [...before, ...within].entries()) {
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

  const anchor = before.at(-1);
  const start = anchor ? Number(anchor.to_position) : 0;
  const stop = Number(end);
  const covering = (position: number) => within.find((d) => Number(d.from_position) <= position && Number(d.to_position) >= position)?.digest_id;
  const boundaries = new Map(within.map((d) => [Number(d.to_position), d]));
  const seen = new Set<string>();
  const blockCount = await trx.raw<{ rows: { n: string | null }[] }>(
    `select sum(to_position - from_position + 1)::text as n from activity_seal_blocks where tenant_id = ? and to_position > ? and from_position <= ?`,
    [tenant, start, stop],
  );
  const index = new SealIndex(Number(blockCount.rows[0]!.n ?? 0));
  const fromUs = from.getTime() * 1000;
  const toUs = to.getTime() * 1000;

  let chain: Buffer = anchor ? Buffer.from(anchor.chain_hash, 'hex') : GENESIS;
  let expected = start + 1;
  // A break is reported where it is found; the digest over it then cannot match either, and is not blamed twice.
  let broken = false;
  for (let after = start; ; ) {
    const { rows } = await trx.raw<{ rows: { from_position: string; to_position: string; entries: Buffer; chain_hash: Buffer }[] }>(
      `select from_position::text as from_position, to_position::text as to_position, entries, chain_hash
         from activity_seal_blocks where tenant_id = ? and to_position > ? and from_position <= ? order by activity_seal_blocks.to_position limit ${BLOCKS_PER_QUERY}`,
      [tenant, after, stop],
    );
    for (const block of rows) {
      const first = Number(block.from_position);
      if (first !== expected) {
        // Seal blocks removed (or overlapping): name the digest over the first position that is not where it should be.
        problems.push({ kind: 'missing', ...optional(covering(Math.min(first, expected))) });
        broken = true;
      }
      const { entries } = block;
      chain = chainBlock(chain, entries);
      if (!chain.equals(block.chain_hash)) {
        problems.push({ kind: 'modified', ...optional(covering(first)) });
        broken = true;
      }
      const blockIndex = index.keep(entries);
      for (let offset = 0, position = first; offset < entries.length; offset += ENTRY_BYTES, position++) {
        const at = entryOccurredAt(entries, offset);
        if (at >= fromUs && at < toUs) index.add(blockIndex, offset, position, at);
      }
      const digest = boundaries.get(Number(block.to_position));
      if (digest) {
        seen.add(digest.digest_id);
        // Every block chains but the chain is not the one signed: the seal table was rewritten consistently.
        if (authentic.has(digest.digest_id) && !broken && chain.toString('hex') !== digest.chain_hash) problems.push({ kind: 'bad_signature', digest_id: digest.digest_id });
        broken = false;
      }
      expected = Number(block.to_position) + 1;
    }
    if (rows.length < BLOCKS_PER_QUERY) break;
    after = Number(rows.at(-1)!.to_position);
  }
  // A digest whose position no block reaches (the seal table cut short under it).
  for (const digest of within) if (!seen.has(digest.digest_id)) problems.push({ kind: 'missing', digest_id: digest.digest_id });
  return index;
}

const optional = (digestId: string | undefined) => (digestId ? { digest_id: digestId } : {});

/**
 * The range's seal entries, looked up by id: open addressing over typed arrays (an id as four 32-bit words), the
 * entries left in the blocks they came in. The same id may be sealed twice (the key is id and occurred_at).
 */
class SealIndex {
  count = 0;
  readonly positions: Float64Array;
  readonly matched: Uint8Array;
  private readonly blocks: Buffer[] = [];
  private readonly block: Int32Array;
  private readonly offset: Int32Array;
  private readonly at: Float64Array;
  private readonly ids: Int32Array;
  private readonly slots: Int32Array;
  private readonly mask: number;

  constructor(capacity: number) {
    this.positions = new Float64Array(capacity);
    this.matched = new Uint8Array(capacity);
    this.block = new Int32Array(capacity);
    this.offset = new Int32Array(capacity);
    this.at = new Float64Array(capacity);
    this.ids = new Int32Array(capacity * 4);
    let size = 16;
    while (size < capacity * 2) size *= 2;
    this.slots = new Int32Array(size).fill(-1);
    this.mask = size - 1;
  }

  /** Holds a block's entries; returns its number for add(). */
  keep(entries: Buffer): number {
    return this.blocks.push(entries) - 1;
  }

  add(block: number, offset: number, position: number, occurredAtUs: number): void {
    const i = this.count++;
    const entries = this.blocks[block]!;
    this.block[i] = block;
    this.offset[i] = offset;
    this.positions[i] = position;
    this.at[i] = occurredAtUs;
    for (let w = 0; w < 4; w++) this.ids[i * 4 + w] = entries.readInt32LE(offset + ID_AT + w * 4);
    let slot = slotOf(this.ids[i * 4 + 2]!, this.ids[i * 4 + 3]!) & this.mask;
    while (this.slots[slot] !== -1) slot = (slot + 1) & this.mask;
    this.slots[slot] = i;
  }

  /** Every entry of event `id` (16 bytes), in probe order. */
  *all(id: Buffer): Generator<number> {
    const [a, b, c, d] = [id.readInt32LE(0), id.readInt32LE(4), id.readInt32LE(8), id.readInt32LE(12)];
    for (let slot = slotOf(c, d) & this.mask; ; slot = (slot + 1) & this.mask) {
      const i = this.slots[slot]!;
      if (i === -1) return;
      if (this.ids[i * 4] === a && this.ids[i * 4 + 1] === b && this.ids[i * 4 + 2] === c && this.ids[i * 4 + 3] === d) yield i;
    }
  }

  /** The first entry of event `id`, or -1 (the fast path: no generator). */
  first(id: Buffer): number {
    const a = id.readInt32LE(0);
    const b = id.readInt32LE(4);
    const c = id.readInt32LE(8);
    const d = id.readInt32LE(12);
    for (let slot = slotOf(c, d) & this.mask; ; slot = (slot + 1) & this.mask) {
      const i = this.slots[slot]!;
      if (i === -1) return -1;
      if (this.ids[i * 4] === a && this.ids[i * 4 + 1] === b && this.ids[i * 4 + 2] === c && this.ids[i * 4 + 3] === d) return i;
    }
  }

  /** The entry of event `id` sealed at `occurredAtUs`, else its first unmatched one, else -1. */
  pick(id: Buffer, occurredAtUs: number): number {
    let fallback = -1;
    for (const entry of this.all(id)) {
      if (this.at[entry] === occurredAtUs) return entry;
      if (fallback === -1 && !this.matched[entry]) fallback = entry;
    }
    return fallback;
  }

  hashIs(i: number, digest: string): boolean {
    return hashEquals(digest, this.blocks[this.block[i]!]!, this.offset[i]! + HASH_AT);
  }

  hashOf(i: number): Buffer {
    const at = this.offset[i]! + HASH_AT;
    return this.blocks[this.block[i]!]!.subarray(at, at + 32);
  }

  idOf(i: number): Buffer {
    const at = this.offset[i]! + ID_AT;
    return this.blocks[this.block[i]!]!.subarray(at, at + 16);
  }

  sealed(i: number): Sealed {
    return { hash: this.hashOf(i), occurredAtUs: this.at[i]!, seq: entrySeq(this.blocks[this.block[i]!]!, this.offset[i]!), position: this.positions[i]! };
  }
}

/** A slot from an id's last eight bytes (random in v4 and v7 uuids), mixed. */
function slotOf(c: number, d: number): number {
  const x = Math.imul(c ^ d, 0x9e3779b1);
  return (x ^ (x >>> 15)) >>> 0;
}

function* chunks<T>(items: T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}
