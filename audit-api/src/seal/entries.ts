// A sealed event's entry in its block (activity_seal_blocks.entries, 64 bytes, in position order):
//   [0, 32)  event_hash   sha256 of the canonical line (hash.ts)
//   [32, 48) id           the event's uuid
//   [48, 56) occurred_at  microseconds since 1970-01-01 UTC, signed big-endian
//   [56, 64) seq          signed big-endian
// and the conversions between a COPY line's fields and these bytes, done on the bytes (no decoding of the row).
export const ENTRY_BYTES = 64;
export const HASH_AT = 0;
export const ID_AT = 32;
export const OCCURRED_AT = 48;
export const SEQ_AT = 56;

/** Writes a uuid's text (8-4-4-4-12 hex, as COPY sends it) from line[start..] as 16 bytes into out[at..]. */
export function writeUuid(line: Uint8Array, start: number, out: Buffer, at: number): void {
  let o = at;
  for (let i = start; o < at + 16; i++) {
    if (line[i] === 45) continue; // '-'
    out[o++] = (hexValue(line[i]!) << 4) | hexValue(line[++i]!);
  }
}

function hexValue(c: number): number {
  return c <= 57 ? c - 48 : (c | 32) - 87; // 0-9, a-f / A-F
}

/** A uuid's 16 bytes as text. */
export function uuidText(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A non-negative integer's text (line[start, end)) as a number. */
export function digits(line: Uint8Array, start: number, end: number): number {
  let value = 0;
  for (let i = start; i < end; i++) value = value * 10 + (line[i]! - 48);
  return value;
}

/**
 * A timestamptz as COPY writes it under CANONICAL_SETTINGS ("2026-10-01 00:00:03.678398+00", the fraction
 * without trailing zeros, or absent) in line[start, end), as microseconds since the epoch.
 */
export function parseTimestampUs(line: Uint8Array, start: number, end: number): number {
  const ms = Date.UTC(
    digits(line, start, start + 4),
    digits(line, start + 5, start + 7) - 1,
    digits(line, start + 8, start + 10),
    digits(line, start + 11, start + 13),
    digits(line, start + 14, start + 16),
    digits(line, start + 17, start + 19),
  );
  let fraction = 0;
  let i = start + 19;
  if (line[i] === 46) {
    let scale = 100_000;
    for (i++; i < end && line[i]! >= 48 && line[i]! <= 57; i++, scale /= 10) fraction += (line[i]! - 48) * scale;
  }
  return ms * 1000 + fraction;
}

/** Microseconds since the epoch as COPY writes the timestamptz under CANONICAL_SETTINGS (the inverse of the above). */
export function timestampText(us: number): string {
  const ms = Math.floor(us / 1000);
  const iso = new Date(ms).toISOString();
  const micros = us - Math.floor(us / 1_000_000) * 1_000_000;
  const fraction = micros === 0 ? '' : `.${String(micros).padStart(6, '0').replace(/0+$/, '')}`;
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${fraction}+00`;
}

/** Reads an entry's occurred_at (µs) and seq: two 32-bit reads, exact below 2^53 (no BigInt per entry). */
export function entryOccurredAt(entries: Buffer, offset: number): number {
  return entries.readInt32BE(offset + OCCURRED_AT) * 2 ** 32 + entries.readUInt32BE(offset + OCCURRED_AT + 4);
}
export function entrySeq(entries: Buffer, offset: number): number {
  return entries.readInt32BE(offset + SEQ_AT) * 2 ** 32 + entries.readUInt32BE(offset + SEQ_AT + 4);
}

/** Writes an entry (hash as lineHash() gives it, id from a COPY line, occurred_at µs, seq) at `offset`. */
export function writeEntry(out: Buffer, offset: number, eventHash: string, line: Uint8Array, idStart: number, occurredAtUs: number, seq: number): void {
  out.write(eventHash, offset + HASH_AT, 32, 'latin1');
  writeUuid(line, idStart, out, offset + ID_AT);
  writeInt64(out, offset + OCCURRED_AT, occurredAtUs);
  writeInt64(out, offset + SEQ_AT, seq);
}

function writeInt64(out: Buffer, at: number, value: number): void {
  const high = Math.floor(value / 2 ** 32);
  out.writeInt32BE(high, at);
  out.writeUInt32BE(value - high * 2 ** 32, at + 4);
}
