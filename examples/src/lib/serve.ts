// Starts a Koa app, announces it with a `<name> listening` log line (its port, for tests and humans), and
// stops it cleanly on SIGTERM/SIGINT: no new connections, in-flight requests get a grace period, then the
// service's own resources close and the process ends by itself.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import type { Logger } from './logger.js';
import { ConfigError, type Listen } from '../config.js';

// In-flight requests get this long after SIGTERM; compose's stop_grace_period (30 s) covers it and the
// service's own onStop (the worker's drain, the runs service's audit flush).
const GRACE_MS = 5_000;

export interface Served {
  server: Server;
  port: number;
  stop(): Promise<void>;
}

export async function serve(name: string, app: Koa, listen: Listen, log: Logger, onStop: () => Promise<void> = async () => undefined): Promise<Served> {
  const server = createServer(app.callback());
  // Keep-alive sockets from other services must not outlive the upstream's own idle timeout.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  log.info(`${name} listening`, { port, host: listen.host });

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), GRACE_MS);
      await closed;
      clearTimeout(force);
      await onStop();
      log.info(`${name} stopped`);
    })());
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      log.info(`${name} shutting down`, { signal });
      stop().catch((err: unknown) => {
        log.error(`${name} did not stop cleanly`, { err });
        process.exitCode = 1;
      });
    });
  }
  return { server, port, stop };
}

/** Runs a service's start function; a configuration error ends the process with code 2 and one clear line. */
export function main(log: Logger, start: () => Promise<unknown>): void {
  start().catch((err: unknown) => {
    if (err instanceof ConfigError) {
      log.error(`configuration error: ${(err as Error).message}`);
      process.exitCode = 2;
    } else {
      log.error('failed to start', { err });
      process.exitCode = 1;
    }
  });
}
