// GET /health, /health/db and /health/dependencies for the audit API, through the agent's shared implementation:
// the database (required) and the LISTEN connection that wakes this replica's streams.
import { createHealth, HEALTH_TIMEOUT_MS, type HealthMiddleware } from '@lookout/agent';
import type { Knex } from 'knex';
import type { Notifier } from '../stream/notifier.js';

export interface HealthDeps {
  db: Knex;
  notifier: Notifier;
  embedded: boolean;
  /** False until migrations and partitions are in place (the API answers 503 meanwhile). */
  isReady: () => boolean;
}

export function healthEndpoints(deps: HealthDeps): HealthMiddleware {
  return createHealth({
    // Cancelled on the server too, so a stuck probe does not hold a pool connection past its answer. A database
    // that answers but whose schema is not in place yet (migrations failing or still running) is not usable:
    // every API call gets 503 then, so /health/db must not say 200.
    database: async () => {
      await deps.db.raw('select 1').timeout(HEALTH_TIMEOUT_MS, { cancel: true });
      if (!deps.isReady()) throw new Error('the database answers, but migrations and partitions are not in place yet');
    },
    dependencies: [
      {
        name: 'notifications',
        // Without it, streams here still get this replica's writes (and poll), but other replicas' only late:
        // required with PostgreSQL. Embedded PGlite has no LISTEN connection by design, so nothing is missing.
        required: !deps.embedded,
        check: async () => {
          if (deps.embedded) return { mode: 'local_only' };
          if (!deps.notifier.listening) throw new Error('the LISTEN connection is down; reconnecting');
        },
      },
    ],
  }).middleware;
}
