// What knex hands our pg instrumentation when knex runs on pg, so that one call makes one span: the pg
// span, carrying the table knex's builder named. Symbol.for keys, so the two sides need not share a module.

/** On our pg query wrapper: whether it is making spans right now (instrumentation enabled). */
export const kPgTracing = Symbol.for('lookout.pg.tracing');
/** On a pg connection, for the duration of knex's synchronous call into connection.query(). */
export const kCollectionHint = Symbol.for('lookout.pg.collectionHint');

export interface HandoffConnection {
  query?: { [kPgTracing]?: () => boolean };
  [kCollectionHint]?: string | undefined;
}

/** True when `connection` is a pg client whose queries our pg instrumentation will trace. */
export function tracedByOurPg(connection: unknown): connection is HandoffConnection {
  const tracing = (connection as HandoffConnection | null | undefined)?.query?.[kPgTracing];
  return tracing !== undefined && tracing();
}
