// The runs service's storage: knex on PostgreSQL, migrations from an explicit list (the same code runs
// from the TypeScript sources and from dist/), and the pool statistics the pool gauges report.
import knex, { type Knex } from 'knex';
import type { PoolStats } from '@lookout/agent';
import * as workflowRuns from '../migrations/001_workflow_runs.js';

const MIGRATIONS: Record<string, Knex.Migration> = { '001_workflow_runs': workflowRuns };
const POOL_MAX = 10;

export type RunStatus = 'queued' | 'completed' | 'failed';

export interface Run {
  id: string;
  tenant_id: string;
  workflow_id: string;
  status: RunStatus;
  requested_by: string;
  created_at: Date;
  finished_at: Date | null;
  duration_ms: number | null;
  error_code: string | null;
}

export class RunsStore {
  readonly db: Knex;

  constructor(databaseUrl: string) {
    this.db = knex({ client: 'pg', connection: databaseUrl, pool: { min: 0, max: POOL_MAX } });
  }

  async migrate(): Promise<string[]> {
    const [, applied] = (await this.db.migrate.latest({
      tableName: 'runs_knex_migrations',
      migrationSource: {
        getMigrations: async () => Object.keys(MIGRATIONS),
        getMigrationName: (name: string) => name,
        getMigration: async (name: string) => MIGRATIONS[name]!,
      },
    })) as [number, string[]];
    return applied;
  }

  async create(tenant: string, workflowId: string, requestedBy: string): Promise<Run> {
    const [run] = await this.db<Run>('workflow_runs').insert({ tenant_id: tenant, workflow_id: workflowId, requested_by: requestedBy }).returning('*');
    return run!;
  }

  async get(tenant: string, id: string): Promise<Run | undefined> {
    return this.db<Run>('workflow_runs').where({ tenant_id: tenant, id }).first();
  }

  async recent(tenant: string, limit: number): Promise<Run[]> {
    return this.db<Run>('workflow_runs').where({ tenant_id: tenant }).orderBy('created_at', 'desc').limit(limit);
  }

  /** Records the outcome of a queued run; undefined when the run is unknown or already finished. */
  async finish(tenant: string, id: string, outcome: { status: 'completed' | 'failed'; durationMs: number; errorCode?: string }): Promise<Run | undefined> {
    const [run] = await this.db<Run>('workflow_runs')
      .where({ tenant_id: tenant, id, status: 'queued' })
      .update({ status: outcome.status, duration_ms: outcome.durationMs, error_code: outcome.errorCode ?? null, finished_at: this.db.fn.now() })
      .returning('*');
    return run;
  }

  async ping(): Promise<void> {
    await this.db.raw('select 1');
  }

  poolStats(): PoolStats {
    const pool = this.db.client.pool as { numUsed(): number; numFree(): number; numPendingAcquires(): number } | undefined;
    if (!pool) return { used: 0, idle: 0, pending: 0, max: POOL_MAX };
    return { used: pool.numUsed(), idle: pool.numFree(), pending: pool.numPendingAcquires(), max: POOL_MAX };
  }

  close(): Promise<void> {
    return this.db.destroy();
  }
}
