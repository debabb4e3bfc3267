// Reading a query's result as COPY text lines, on a knex transaction's own connection (so inside its snapshot):
// verify hashes the bytes PostgreSQL sends, with no per-value decoding, which is what makes it about as fast
// as the COPY it is measured against.
import type { Knex } from 'knex';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';

/** The transaction's connection (knex hands a transaction's client the one connection it runs on). */
export async function connectionOf(trx: Knex.Transaction): Promise<pg.Client> {
  return (await trx.client.acquireConnection()) as pg.Client;
}

/** SQL literal for COPY, which takes no bind parameters. */
export function literal(conn: pg.Client, value: string | Date): string {
  return conn.escapeLiteral(value instanceof Date ? value.toISOString() : value);
}

/** Yields the lines of `COPY (query) TO STDOUT`, without their newlines, a chunk at a time. */
export async function* copyLines(conn: pg.Client, query: string): AsyncGenerator<Buffer[]> {
  const stream = conn.query(copyTo(`copy (${query}) to stdout`));
  let rest: Buffer | undefined;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    const data = rest ? Buffer.concat([rest, chunk]) : chunk;
    const lines: Buffer[] = [];
    let start = 0;
    for (let end = data.indexOf(10, start); end !== -1; end = data.indexOf(10, start)) {
      lines.push(data.subarray(start, end));
      start = end + 1;
    }
    rest = start < data.length ? data.subarray(start) : undefined;
    if (lines.length > 0) yield lines;
  }
  if (rest && rest.length > 0) yield [rest];
}

/** Offsets of the tabs in a line (COPY escapes a tab inside a value, so each one separates fields). */
export function tabs(line: Buffer): number[] {
  const at: number[] = [];
  for (let i = line.indexOf(9); i !== -1; i = line.indexOf(9, i + 1)) at.push(i);
  return at;
}

/** Field `n` of a line as text (still COPY-escaped), given its tab offsets. */
export function field(line: Buffer, tabAt: number[], n: number): string {
  const start = n === 0 ? 0 : tabAt[n - 1]! + 1;
  const end = n < tabAt.length ? tabAt[n]! : line.length;
  return line.toString('utf8', start, end);
}

/** Whether field `n` is COPY's null (\\N), without decoding it. */
export function isNull(line: Buffer, tabAt: number[], n: number): boolean {
  const start = n === 0 ? 0 : tabAt[n - 1]! + 1;
  const end = n < tabAt.length ? tabAt[n]! : line.length;
  return end - start === 2 && line[start] === 92 && line[start + 1] === 78;
}

/** A non-negative integer field (bytes start..end) as a number. */
export function digits(line: Buffer, start: number, end: number): number {
  let value = 0;
  for (let i = start; i < end; i++) value = value * 10 + (line[i]! - 48);
  return value;
}
