// Opens the database: PostgreSQL from DATABASE_URL, or, without one, an embedded PGlite served on a
// loopback socket so the very same pg/knex code path runs (for trying the API only: PGlite serves one
// connection at a time, so no LISTEN/NOTIFY fan-out and no concurrency worth the name).
import type { PoolStats } from '@lookout/agent';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';

// int8 (seq, counts) stays a string: JavaScript numbers lose precision past 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => value);

export interface Database {
  knex: Knex;
  /** Connection string for dedicated clients (the LISTEN connection). */
  url: string;
  embedded: boolean;
  /** knex's connection pool as the db.client.connection.* gauges report it. */
  poolStats(): PoolStats;
  close(): Promise<void>;
}

/** Where knex's own warnings go (connection errors while the database is down); default: dropped. */
export type KnexLog = (level: 'warn' | 'error', message: string) => void;

export async function openDatabase(databaseUrl: string | undefined, poolMax: number, log: KnexLog = () => {}, pgliteDir?: string): Promise<Database> {
  if (databaseUrl) {
    const knex = createKnex(databaseUrl, poolMax, log);
    return { knex, url: databaseUrl, embedded: false, poolStats: () => poolStats(knex, poolMax), close: () => knex.destroy() };
  }
  const [{ PGlite }, { PGLiteSocketServer }] = await Promise.all([import('@electric-sql/pglite'), import('@electric-sql/pglite-socket')]);
  const pglite = await PGlite.create(pgliteDir);
  const server = new PGLiteSocketServer({ db: pglite, host: '127.0.0.1', port: 0 });
  await server.start();
  const conn = server.getServerConn();
  const url = `postgres://postgres@${conn}/postgres`;
  const knex = createKnex(url, 1, log);
  return {
    knex,
    url,
    embedded: true,
    poolStats: () => poolStats(knex, 1),
    async close() {
      await knex.destroy();
      await server.stop();
      await pglite.close();
    },
  };
}

/** knex's pool is tarn's, not a pg.Pool, so the agent does not see it on its own; read when metrics are collected. */
function poolStats(knex: Knex, max: number): PoolStats {
  const pool = knex.client.pool as { numUsed(): number; numFree(): number; numPendingAcquires(): number } | undefined;
  if (!pool) return { used: 0, idle: 0, pending: 0, max };
  return { used: pool.numUsed(), idle: pool.numFree(), pending: pool.numPendingAcquires(), max };
}

function createKnex(connectionString: string, poolMax: number, log: KnexLog): Knex {
  const text = (message: unknown) => (message instanceof Error ? message.message : String(message));
  return knexFactory({
    // knex prints to the console by default; the service's structured logger takes it instead.
    log: {
      warn: (message: unknown) => log('warn', text(message)),
      error: (message: unknown) => log('error', text(message)),
      deprecate: (method: string, alternative: string) => log('warn', `knex: ${method} is deprecated, use ${alternative}`),
      debug: () => {},
    },
    client: 'pg',
    connection: {
      connectionString,
      // Fail fast when the database is down, so requests get a 503 instead of hanging.
      connectionTimeoutMillis: 3000,
      statement_timeout: 15_000,
      idle_in_transaction_session_timeout: 15_000,
      application_name: 'lookout-audit-api',
    },
    pool: {
      min: 0,
      max: poolMax,
      idleTimeoutMillis: 30_000,
      // Partition bounds and now() read in UTC whatever the server's TimeZone setting is.
      afterCreate(conn: pg.Client, done: (err: Error | null, conn: pg.Client) => void) {
        conn.query(`set time zone 'UTC'`).then(() => done(null, conn), (err: Error) => done(err, conn));
      },
    },
    acquireConnectionTimeout: 5000,
  });
}

/** True for errors that mean "the database is unreachable or going away" rather than a bad query. */
export function isUnavailable(err: unknown): boolean {
  const e = err as { code?: string; name?: string; message?: string };
  if (e?.name === 'KnexTimeoutError') return true;
  if (e?.code && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', '57P01', '57P02', '57P03', '53300', '08000', '08003', '08006', '08001', '08004'].includes(e.code)) return true;
  return /Connection terminated|connection timeout|Client has encountered a connection error/i.test(e?.message ?? '');
}
