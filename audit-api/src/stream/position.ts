// A stream position: exactly which transactions' events a subscriber has been sent, in the shape of a
// PostgreSQL snapshot (every transaction below `xmax` except those in `xip`), plus at most one transaction
// sent up to a sequence number. A transaction that took a lower id or sequence but commits after the
// position was taken stays in `xip`, so a resume still sends it. Sent as the SSE event id.
//
// A pass reads, in one snapshot S, the events visible in S that a position B has not covered, and sends
// them in order: the rest of B's partial transaction first, then by (transaction id, sequence). The
// position after each event is computed from B and S alone (see after()), so it is exact whether the pass
// is the hub's live read or a replay page.

export interface Position {
  /** Every transaction below it is covered, except those in xip. */
  xmax: bigint;
  /** Not covered, sorted ascending, all below xmax. */
  xip: bigint[];
  /** A transaction covered only up to (and including) this sequence; below xmax and not in xip. */
  partial?: { tx: bigint; seq: bigint };
}

/** Parses pg_snapshot text, `xmin:xmax:xip,xip,…`. */
export function fromSnapshot(text: string): Position {
  const [, xmax, xip] = text.split(':');
  return { xmax: BigInt(xmax!), xip: xip ? xip.split(',').map(BigInt).sort(compare) : [] };
}

/** The lowest transaction id a position does not fully cover: reads start there. */
export function floor(p: Position): bigint {
  let low = p.xmax;
  if (p.xip.length > 0 && p.xip[0]! < low) low = p.xip[0]!;
  if (p.partial && p.partial.tx < low) low = p.partial.tx;
  return low;
}

/** Whether the event (tx, seq) is covered by `p`. */
export function covers(p: Position, tx: bigint, seq: bigint): boolean {
  if (p.partial && p.partial.tx === tx) return seq <= p.partial.seq;
  return tx < p.xmax && !includes(p.xip, tx);
}

/**
 * The position once the event (tx, seq) has been sent, in a pass from `before` over snapshot `snapshot`
 * (which sees tx). Everything the pass sends before it is covered, everything it sends after it is not,
 * and so is every transaction the snapshot did not see yet.
 */
export function after(before: Position, snapshot: Position, tx: bigint, seq: bigint): Position {
  if (before.partial?.tx === tx) return { xmax: before.xmax, xip: before.xip, partial: { tx, seq } };
  // Sent before this event: the rest of before's partial transaction (so it is now whole), and every
  // transaction below tx that the snapshot sees. Not sent: those above tx, and those the snapshot does not see.
  const inFlight = new Set(snapshot.xip);
  const xip = before.xip.filter((x) => x > tx || inFlight.has(x));
  for (const x of snapshot.xip) if (x >= before.xmax && x < tx) xip.push(x);
  const xmax = before.xmax > tx ? before.xmax : tx + 1n;
  return { xmax, xip: xip.sort(compare), partial: { tx, seq } };
}

/** The position once a pass from `p` over `snapshot` has sent everything it read: `p` plus all `snapshot` sees. */
export function union(p: Position, snapshot: Position): Position {
  const inFlight = new Set(snapshot.xip);
  const xip = p.xip.filter((x) => x >= snapshot.xmax || inFlight.has(x));
  for (const x of snapshot.xip) if (x >= p.xmax) xip.push(x);
  const result: Position = { xmax: p.xmax > snapshot.xmax ? p.xmax : snapshot.xmax, xip: xip.sort(compare) };
  // A partial transaction the snapshot sees was read whole by the pass; one it does not see stays partial.
  if (p.partial && !covers(snapshot, p.partial.tx, 0n)) result.partial = p.partial;
  return result;
}

export function equal(a: Position, b: Position): boolean {
  if (a === b) return true;
  if (a.xmax !== b.xmax || a.xip.length !== b.xip.length || a.partial?.tx !== b.partial?.tx || a.partial?.seq !== b.partial?.seq) return false;
  return a.xip.every((x, i) => x === b.xip[i]);
}

/**
 * The SSE id of a position after an event: `<tx>.<seq>`, then, when the position says more than "everything
 * up to this event's transaction", `.<xmax − tx − 1>` and one `.<xmax − x>` per uncovered transaction x.
 * The common case (no transaction in flight) is as short as a sequence number.
 */
export function encode(p: Position): string {
  const { tx, seq } = p.partial!;
  const extra = p.xmax - tx - 1n;
  if (extra === 0n && p.xip.length === 0) return `${tx}.${seq}`;
  return [tx, seq, extra, ...p.xip.map((x) => p.xmax - x)].join('.');
}

const ID = /^\d{1,20}\.\d{1,19}(\.\d{1,20}){0,200}$/;
/** An id from before positions (a bare insertion sequence), accepted across a deploy. */
const LEGACY_ID = /^\d{1,19}$/;

export type ParsedId = { position: Position } | { legacySeq: string } | undefined;

/** An SSE id this stream sent, or undefined when it is not one. */
export function decode(id: string): ParsedId {
  if (LEGACY_ID.test(id)) return { legacySeq: id };
  if (!ID.test(id)) return undefined;
  const [tx, seq, extra = 0n, ...xip] = id.split('.').map(BigInt) as [bigint, bigint, bigint?, ...bigint[]];
  const xmax = tx + 1n + extra;
  const uncovered = xip.map((d) => xmax - d);
  if (uncovered.some((x) => x < 0n || x === tx || x >= xmax) || tx >= 2n ** 63n) return undefined;
  return { position: { xmax, xip: [...new Set(uncovered)].sort(compare), partial: { tx, seq } } };
}

function includes(sorted: bigint[], x: bigint): boolean {
  // Short lists (transactions in flight at one moment): a scan is cheapest.
  for (const y of sorted) if (y === x) return true;
  return false;
}

function compare(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
