// The audit API service as one unit: database (PostgreSQL, or embedded PGlite without a URL), migrations,
// HTTP server, stream fan-out, background jobs, and an orderly stop. main.ts runs it for the process;
// tests run it in-process with their own config. The server listens before the database is ready, so
// health checks answer while a database that is down at start is retried rather than crash-looped on.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { serviceInstruments } from '@lookout/agent';
import type { Knex } from 'knex';
import type { Logger } from 'winston';
import { createApp } from './app.js';
import { ConfigError, type AuditConfig } from './config.js';
import { scheduleRetention, runRetention } from './jobs/retention.js';
import { createMetrics, type AuditMetrics } from './metrics.js';
import { SelfAudit } from './self-audit.js';
import { openDatabase } from './store/db.js';
import { EventStore } from './store/events.js';
import { migrateLatest } from './store/migrations.js';
import { Partitions } from './store/partitions.js';
import { Sealer } from './seal/sealer.js';
import { CommittedReader } from './stream/committed.js';
import { StreamHub } from './stream/hub.js';
import { Notifier } from './stream/notifier.js';

/** How long requests in flight may take to finish at shutdown before their connections are cut. */
const SHUTDOWN_GRACE_MS = 10_000;

export interface AuditService {
  server: Server;
  /** http://host:port of the listening server. */
  url: string;
  knex: Knex;
  embedded: boolean;
  /** Resolves once migrations and partitions are in place (retried until the database answers). */
  ready: Promise<void>;
  stop(): Promise<void>;
}

/** `metrics`: the service's instruments, through the OpenTelemetry API unless a test passes its own. */
export async function startService(config: AuditConfig, logger: Logger, metrics: AuditMetrics = createMetrics()): Promise<AuditService> {
  // knex's connection warnings (a database that is down) become structured log lines.
  // Sealing reads and ingest writes with COPY, which PGlite's socket server does not speak: refuse before opening anything.
  if (config.sealing && !config.databaseUrl) throw new ConfigError('LOOKOUT_AUDIT_SIGNING_KEY: tamper evidence needs PostgreSQL (DATABASE_URL); embedded PGlite cannot seal');
  const database = await openDatabase(config.databaseUrl, config.poolMax, (level, message) => logger.log(level, 'database connection', { err: message }), config.pgliteDir);
  if (database.embedded) {
    logger.warn('no DATABASE_URL: running on embedded PGlite, in memory unless LOOKOUT_AUDIT_PGLITE_DIR is set. For trying the API only: one connection at a time, no cross-replica stream fan-out. Set DATABASE_URL for production.');
  }
  // A key rotation's overlap should end: say at every start that a previous key is still accepted.
  const previous = [config.auth.mode === 'hs256' && config.auth.previousSecret ? 'LOOKOUT_AUDIT_JWT_SECRET_PREVIOUS' : undefined, config.previousCursorKey ? 'LOOKOUT_AUDIT_CURSOR_KEY_PREVIOUS' : undefined].filter(Boolean);
  if (previous.length > 0) {
    logger.info('key rotation: the previous key is still accepted; remove it once lookout.audit.previous_key.uses stays at zero', { variables: previous });
  }
  const partitions = new Partitions(database.knex);
  const store = new EventStore(database.knex, partitions, { copy: !database.embedded, writers: config.writeConcurrency });
  const report = (what: string) => (err: unknown) => logger.warn(`${what} failed`, { err: (err as Error).message });
  const hub = new StreamHub(new CommittedReader(database.knex), metrics, report('stream read'));
  const notifier = new Notifier(database.knex, database.embedded ? undefined : database.url, () => hub.wake());
  const selfAudit = new SelfAudit(store, metrics, report('self-audit write'));
  // The same service instruments the example services export: lookout_audit_queue_depth{queue=…} and
  // db_client_connection_*{db_client_connection_pool_name="audit-db"}, read when metrics are collected.
  const instruments = serviceInstruments('audit');
  instruments.pool('audit-db', () => database.poolStats());
  instruments.queueDepth('self_audit', () => selfAudit.depth);
  instruments.queueDepth('stream', () => hub.queuedEvents());

  let ready = false;
  const { app, streams } = createApp({ config, db: database.knex, embedded: database.embedded, store, notifier, hub, selfAudit, metrics, logger, isReady: () => ready });
  const server: Server = app.listen(config.port, config.host);
  await new Promise((resolve) => server.once('listening', resolve));
  const address = server.address() as AddressInfo;
  logger.info('audit-api listening', { port: address.port, host: config.host });
  // SSE streams stay open; ordinary requests should not hang forever on a stuck client.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;

  const stopRetention = scheduleRetention(
    async () => {
      if (!ready) return;
      const result = await runRetention(database.knex, { retentionDays: config.retentionDays, batchSize: config.retentionBatchSize, dryRun: false }, partitions);
      metrics.retentionRowsRemoved.add(result.rows_removed);
      logger.info('retention run', { ...result });
    },
    config.retentionIntervalMs,
    report('retention'),
  );
  // Tamper evidence: seals committed events into each tenant's chain and signs digests, off the write path.
  const sealer = config.sealing
    ? new Sealer(database.knex, config.sealing.signingKey, config.sealing.digestIntervalMs, { recordLag: (s) => metrics.sealLag.record(s), sealed: (n) => metrics.sealedEvents.add(n) }, report('sealing'))
    : undefined;
  const partitionTimer = setInterval(() => void partitions.ensureAhead().catch(report('partition maintenance')), 3600_000);
  partitionTimer.unref();

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    // Stops accepting, lets requests in flight finish (for a bounded time), ends streams (clients
    // reconnect elsewhere). The promise is taken now: 'close' may fire before the awaits below are done.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    const forceClose = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
    for (const res of streams) {
      metrics.streamDisconnects.add(1, { reason: 'shutdown' });
      res.end();
    }
    stopRetention();
    await sealer?.stop();
    clearInterval(partitionTimer);
    hub.stop();
    await selfAudit.stop().catch(() => {});
    await notifier.stop();
    server.closeIdleConnections();
    await closed;
    clearTimeout(forceClose);
    await database.close().catch(() => {});
  };
  // Migrations and partitions, retried until the database answers.
  const init = async () => {
    for (let attempt = 1; !stopping; attempt++) {
      try {
        if (config.migrate) {
          const applied = await migrateLatest(database.knex);
          if (applied.length > 0) logger.info('migrations applied', { migrations: applied });
        }
        await partitions.ensureAhead();
        await notifier.start();
        hub.start();
        sealer?.start();
        ready = true;
        logger.info('audit-api ready');
        return;
      } catch (err) {
        logger.warn('database not ready; retrying', { attempt, err: (err as Error).message });
        await new Promise((resolve) => setTimeout(resolve, Math.min(1000 * attempt, 10_000)));
      }
    }
  };
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return { server, url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`, knex: database.knex, embedded: database.embedded, ready: init(), stop };
}

