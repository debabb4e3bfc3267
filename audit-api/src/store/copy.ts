// COPY on a knex transaction's own connection (so inside its transaction and snapshot): ingest writes batches
// with COPY FROM (multi-row inserts, no per-row speculative insertion), and the sealer and verify read query
// results as COPY text lines and hash the bytes PostgreSQL sends, with no per-value decoding.
import type { Knex } from 'knex';
import type pg from 'pg';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';

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

/** Sends `text` (COPY text format lines) to `COPY target FROM STDIN`. */
export async function copyIn(conn: pg.Client, target: string, text: string): Promise<void> {
  await pipeline(Readable.from([text]), conn.query(copyFrom(`copy ${target} from stdin`)));
}

// COPY's text format (CopyReadAttributesText's inverse): backslash, and \b \f \n \r \t \v as backslash sequences.
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' };
const NEEDS_ESCAPE = /[\\\b\f\n\r\t\v]/g;
const HAS_ESCAPE = /[\\\b\f\n\r\t\v]/;

/** A value as a COPY text field: \N for null or undefined. */
export function copyField(value: string | null | undefined): string {
  if (value === null || value === undefined) return '\\N';
  return HAS_ESCAPE.test(value) ? value.replace(NEEDS_ESCAPE, (c) => ESCAPES[c]!) : value;
}
