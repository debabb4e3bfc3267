// Event ids: UUIDv7 (RFC 9562), time-ordered so ids sort roughly by creation and index pages stay local.

// Method 1 of RFC 9562 §6.2: a 12-bit counter in rand_a keeps ids made within one millisecond in order.
// It starts at a random value below 2048 in each new millisecond, leaving room to count up.
let lastMs = -1;
let counter = 0;

/**
 * A new UUIDv7. Without `now`, ids from this process are strictly increasing, even within one
 * millisecond or across a small clock step backwards. With an explicit `now`, that timestamp is used as given.
 */
export function uuidv7(now?: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let ms: number;
  let seq: number;
  if (now === undefined) {
    ms = Date.now();
    if (ms > lastMs) {
      lastMs = ms;
      counter = ((bytes[6]! & 0x07) << 8) | bytes[7]!;
    } else if (++counter > 0xfff) {
      // 4096 ids in one millisecond: borrow the next one rather than lose the order.
      lastMs++;
      counter = 0;
    }
    ms = lastMs;
    seq = counter;
  } else {
    if (!Number.isInteger(now) || now < 0 || now >= 2 ** 48) throw new RangeError(`uuidv7: timestamp ${now} is not a 48-bit millisecond count`);
    ms = now;
    seq = ((bytes[6]! & 0x0f) << 8) | bytes[7]!;
  }
  // 48-bit big-endian milliseconds; 2**32 splits it because bitwise operators stop at 32 bits.
  const high = Math.floor(ms / 2 ** 32);
  const low = ms >>> 0;
  bytes[0] = high >>> 8;
  bytes[1] = high & 0xff;
  bytes[2] = low >>> 24;
  bytes[3] = (low >>> 16) & 0xff;
  bytes[4] = (low >>> 8) & 0xff;
  bytes[5] = low & 0xff;
  bytes[6] = 0x70 | (seq >>> 8); // version 7
  bytes[7] = seq & 0xff;
  bytes[8] = 0x80 | (bytes[8]! & 0x3f); // variant 10
  const hex = Buffer.from(bytes).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
